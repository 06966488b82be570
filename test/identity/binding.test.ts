// Session bindings and announcements: canonical bytes, the hotkey's signature exactly as a
// wallet extension's signRaw makes it, and refusal of every altered field, another run, an
// expired binding, a non-42 address, a non-sr25519 hotkey, a PeerId its libp2p key did not sign
// for, replays and foreign session keys.
import { beforeAll, describe, expect, it } from 'vitest';
import { Keyring } from '@polkadot/keyring';
import { hexToU8a, u8aToHex, u8aWrapBytes } from '@polkadot/util';
import { encodeAddress, mnemonicGenerate } from '@polkadot/util-crypto';
import { canonicalJson } from '../../src/identity/canonical.ts';
import { IdentityError, type IdentityErrorCode } from '../../src/identity/errors.ts';
import { bindingBytes, signBinding, verifyBinding, type HotkeySigner, type SignedBinding } from '../../src/identity/binding.ts';
import { ReplayGuard, verifyAnnouncement, type SignedAnnouncement } from '../../src/identity/announcement.ts';
import { BURNER_LABEL, createBurnerSigner } from '../../src/identity/burner.ts';
import { cryptoReady, SigningKey } from '../../src/identity/keys.ts';
import { peerIdOf } from '../../src/identity/peer-id.ts';
import { Session } from '../../src/identity/session.ts';
import type { Hex } from '../../src/identity/fields.ts';

const RUN = 'test-run';
/** The session's node's libp2p key (Ed25519), which co-signs the binding. */
const PEER_KEY = SigningKey.fromSeed(new Uint8Array(32).fill(3), 'ed25519');
const PEER = peerIdOf(PEER_KEY.publicKey);
const NOW = 1_800_000_000_000;
const HASH_A = `0x${'a1'.repeat(32)}` as Hex;
const HASH_B = `0x${'b2'.repeat(32)}` as Hex;

function expectCode(action: () => unknown, code: IdentityErrorCode, message?: RegExp): void {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(IdentityError);
    expect((error as IdentityError).code, (error as Error).message).toBe(code);
    if (message) expect((error as Error).message).toMatch(message);
    return;
  }
  throw new Error(`expected IdentityError '${code}', nothing was thrown`);
}

beforeAll(async () => {
  await cryptoReady();
});

describe('canonical JSON', () => {
  it('sorts keys at every depth, has no whitespace, and refuses what JSON cannot carry exactly', () => {
    expect(canonicalJson({ b: 1, a: [{ d: true, c: null }], ä: 'x"y' })).toBe('{"a":[{"c":null,"d":true}],"b":1,"ä":"x\\"y"}');
    expect(canonicalJson({ a: 1, b: 2 })).toBe(canonicalJson({ b: 2, a: 1 }));
    expect(() => canonicalJson({ a: 0.5 })).toThrow(/safe integers/);
    expect(() => canonicalJson({ a: undefined })).toThrow(/undefined/);
    expect(() => canonicalJson({ a: new Uint8Array(2) })).toThrow(/plain objects/);
    expect(() => canonicalJson(2 ** 60)).toThrow(/safe integers/);
  });
});

describe('session binding', () => {
  let burner: HotkeySigner;
  let signed: SignedBinding;
  let sessionKey: SigningKey;

  beforeAll(async () => {
    burner = await createBurnerSigner();
    sessionKey = SigningKey.generate('sr25519');
    signed = await signBinding(burner, { run: RUN, peer: PEER_KEY, sessionKey, now: NOW, expiresAt: NOW + 3600_000 });
  });

  it('a burner key makes a prefix-42 hotkey, is labelled as a burner, and its binding verifies', () => {
    expect(burner.address).toMatch(/^5/);
    expect(burner.label).toBe(BURNER_LABEL);
    expect(signed.binding.burner).toBe(true);
    expect(signed.binding.peerId).toBe(PEER);
    const verified = verifyBinding(JSON.parse(JSON.stringify(signed)), { run: RUN, now: NOW });
    expect(verified.binding).toEqual(signed.binding);
    expect(verified.id).toMatch(/^0x[0-9a-f]{64}$/);
    expect(u8aToHex(verified.sessionPublicKey)).toBe(sessionKey.publicKeyHex);
  });

  it('accepts exactly what an extension signRaw returns (<Bytes>…</Bytes> wrapped) and the unwrapped form, from a keyring account', async () => {
    const pair = new Keyring({ type: 'sr25519', ss58Format: 42 }).addFromMnemonic(mnemonicGenerate());
    // polkadot{.js}'s RequestBytesSign: pair.sign(u8aWrapBytes(data)) with data the hex it was given.
    const extensionLike: HotkeySigner = {
      address: pair.address,
      label: 'keyring',
      burner: false,
      signRaw: async (data) => u8aToHex(pair.sign(u8aWrapBytes(data))) as Hex,
    };
    const wrapped = await signBinding(extensionLike, { run: RUN, peer: PEER_KEY, sessionKey, now: NOW });
    expect(verifyBinding(wrapped, { run: RUN, now: NOW }).binding.burner).toBe(false);
    const unwrapped = { ...wrapped, signature: u8aToHex(pair.sign(bindingBytes(wrapped.binding))) as Hex };
    expect(verifyBinding(unwrapped, { run: RUN, now: NOW }).binding.hotkey).toBe(pair.address);
    // Signing the hex text instead of the bytes it encodes is a different message.
    const asText = {
      ...wrapped,
      signature: u8aToHex(pair.sign(u8aWrapBytes(new TextEncoder().encode(u8aToHex(bindingBytes(wrapped.binding)))))) as Hex,
    };
    expectCode(() => verifyBinding(asText, { run: RUN, now: NOW }), 'bad-signature');
  });

  it('refuses every altered field, another run, an expired or too long binding', () => {
    const alterations: Record<string, unknown> = {
      run: 'other-run',
      hotkey: encodeAddress(SigningKey.generate().publicKey, 42),
      peerId: peerIdOf(SigningKey.generate('ed25519').publicKey),
      sessionKey: SigningKey.generate().publicKeyHex,
      sessionKeyType: 'ed25519',
      expiresAt: NOW + 3600_001,
      nonce: `0x${'00'.repeat(16)}`,
      burner: false,
    };
    for (const [field, value] of Object.entries(alterations)) {
      const altered = { ...signed, binding: { ...signed.binding, [field]: value } };
      expectCode(() => verifyBinding(altered, { run: field === 'run' ? 'other-run' : RUN, now: NOW }), 'bad-signature');
    }
    expectCode(() => verifyBinding(signed, { run: 'other-run', now: NOW }), 'wrong-run', /run 'test-run'/);
    // The libp2p key of the PeerId signs the same bytes: another key's signature, or none, is refused.
    const otherPeerKey = SigningKey.generate('ed25519');
    expectCode(
      () => verifyBinding({ ...signed, peerSignature: otherPeerKey.sign(bindingBytes(signed.binding)) }, { run: RUN, now: NOW }),
      'bad-signature',
      new RegExp(`not signed by the libp2p key of its PeerId ${PEER}`),
    );
    expectCode(
      () => verifyBinding({ binding: signed.binding, signature: signed.signature }, { run: RUN, now: NOW }),
      'malformed',
      /peerSignature/,
    );
    expectCode(
      () =>
        verifyBinding(
          { ...signed, binding: { ...signed.binding, peerId: 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N' } },
          { run: RUN, now: NOW },
        ),
      'malformed',
      /not an Ed25519 libp2p PeerId/,
    );
    expectCode(() => verifyBinding(signed, { run: RUN, now: NOW + 3600_000 }), 'expired', /sign a new binding/);
    expectCode(() => verifyBinding(signed, { run: RUN, now: NOW - 8 * 24 * 3600_000 }), 'malformed', /shorter/);
  });

  it('refuses a hotkey with another SS58 prefix, an ed25519 hotkey, extra fields and a bad signature encoding', async () => {
    const polkadotPrefix = {
      ...signed,
      binding: { ...signed.binding, hotkey: encodeAddress(hexToU8a(SigningKey.generate().publicKeyHex), 0) },
    };
    expectCode(() => verifyBinding(polkadotPrefix, { run: RUN, now: NOW }), 'bad-address', /prefix 42/);

    const edPair = new Keyring({ type: 'ed25519', ss58Format: 42 }).addFromMnemonic(mnemonicGenerate());
    const edSigner: HotkeySigner = {
      address: edPair.address,
      label: 'ed',
      burner: false,
      signRaw: async (data) => u8aToHex(edPair.sign(u8aWrapBytes(data))) as Hex,
    };
    const edSigned = await signBinding(edSigner, { run: RUN, peer: PEER_KEY, sessionKey, now: NOW });
    expectCode(() => verifyBinding(edSigned, { run: RUN, now: NOW }), 'bad-signature', /sr25519/);

    expectCode(
      () => verifyBinding({ ...signed, binding: { ...signed.binding, extra: 1 } }, { run: RUN, now: NOW }),
      'malformed',
      /unknown field 'extra'/,
    );
    expectCode(() => verifyBinding({ ...signed, signature: '0x1234' }, { run: RUN, now: NOW }), 'malformed', /128/);
    expectCode(() => verifyBinding({ binding: signed.binding }, { run: RUN, now: NOW }), 'malformed', /lacks the field 'signature'/);
    expectCode(() => verifyBinding('nonsense', { run: RUN, now: NOW }), 'malformed');
  });
});

describe('announcements', () => {
  for (const keyType of ['sr25519', 'ed25519'] as const) {
    it(`a ${keyType} session key signs announcements that verify once; replays, other rounds and runs are refused`, async () => {
      const session = await Session.start(await createBurnerSigner(), { run: RUN, peer: PEER_KEY, keyType, now: NOW });
      const binding = verifyBinding(session.signed, { run: RUN, now: NOW });
      const bindingOf = (id: Hex) => (id === binding.id ? binding : undefined);
      const replay = new ReplayGuard();
      const context = { run: RUN, acceptRound: (r: number) => r === 7, bindingOf, now: NOW, replay };

      const first = session.announce({ round: 7, baseModelHash: HASH_A, payloadHash: HASH_B, bytes: 1234 });
      const second = session.announce({ round: 7, baseModelHash: HASH_A, payloadHash: HASH_A, bytes: 99 });
      expect([first.announcement.nonce, second.announcement.nonce]).toEqual([0, 1]);
      expect(verifyAnnouncement(JSON.parse(JSON.stringify(first)), context).signer.id).toBe(binding.id);
      expectCode(() => verifyAnnouncement(first, context), 'replay');
      expect(verifyAnnouncement(second, context).announcement.payloadHash).toBe(HASH_A);

      const later = session.announce({ round: 8, baseModelHash: HASH_A, payloadHash: HASH_B, bytes: 1 });
      expectCode(() => verifyAnnouncement(later, context), 'wrong-round');
      expectCode(() => verifyAnnouncement(later, { ...context, run: 'other' }), 'wrong-run');
      expectCode(() => verifyAnnouncement(later, { ...context, acceptRound: () => true, now: binding.binding.expiresAt }), 'expired');
      expectCode(() => verifyAnnouncement(later, { ...context, acceptRound: () => true, bindingOf: () => undefined }), 'unknown-binding');
      replay.forgetRoundsBefore(8);
      expectCode(() => verifyAnnouncement(second, { ...context, acceptRound: () => true }), 'wrong-round');
      expect(verifyAnnouncement(later, { ...context, acceptRound: () => true }).announcement.round).toBe(8);
    });
  }

  it('a session restored after a reload signs for the same binding from the nonce it is given; a tampered save is refused', async () => {
    const session = await Session.start(await createBurnerSigner(), { run: RUN, peer: PEER_KEY, now: NOW });
    const binding = verifyBinding(session.signed, { run: RUN, now: NOW });
    const context = { run: RUN, acceptRound: () => true, bindingOf: () => binding, now: NOW, replay: new ReplayGuard() };
    verifyAnnouncement(session.announce({ round: 1, baseModelHash: HASH_A, payloadHash: HASH_B, bytes: 1 }), context);
    const saved = structuredClone(session.saved());
    const restored = await Session.restore(saved, 1);
    expect(restored.id).toBe(session.id);
    const next = restored.announce({ round: 2, baseModelHash: HASH_A, payloadHash: HASH_B, bytes: 1 });
    expect(next.announcement.nonce).toBe(1);
    expect(verifyAnnouncement(next, context).signer.id).toBe(binding.id);
    const otherSeed = { ...saved, seed: SigningKey.generate().seed };
    await expect(Session.restore(otherSeed, 0)).rejects.toThrow(/not the one its binding names/);
  });

  it("refuses an altered announcement and one signed by a key other than the binding's session key", async () => {
    const session = await Session.start(await createBurnerSigner(), { run: RUN, peer: PEER_KEY, now: NOW });
    const binding = verifyBinding(session.signed, { run: RUN, now: NOW });
    const context = { run: RUN, acceptRound: () => true, bindingOf: () => binding, now: NOW };
    const signed: SignedAnnouncement = session.announce({ round: 3, baseModelHash: HASH_A, payloadHash: HASH_B, bytes: 10 });
    for (const [field, value] of Object.entries({ round: 4, baseModelHash: HASH_B, payloadHash: HASH_A, bytes: 11, nonce: 5 })) {
      expectCode(
        () => verifyAnnouncement({ ...signed, announcement: { ...signed.announcement, [field]: value } }, context),
        'bad-signature',
      );
    }
    const stranger = SigningKey.generate();
    const forged = { ...signed, signature: stranger.sign(new TextEncoder().encode(canonicalJson(signed.announcement))) };
    expectCode(() => verifyAnnouncement(forged, context), 'bad-signature', /session key/);
    expectCode(
      () => verifyAnnouncement({ ...signed, announcement: { ...signed.announcement, bytes: 2 ** 40 } }, context),
      'malformed',
      /bytes/,
    );
  });
});
