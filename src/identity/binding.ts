// The session binding: once per session the participant's hotkey (a wallet extension account or
// a burner key) signs {run, hotkey, libp2p PeerId, session public key, expiry, nonce}, and from
// then on the session key alone signs announcements. The signed bytes are the binding's canonical
// JSON; the hotkey signs them through `signRaw` with type 'bytes', which wraps them as
// <Bytes>…</Bytes> first (polkadot{.js}, Talisman and SubWallet all do). The libp2p key that the
// PeerId names signs the same bytes, so nobody can bind a peer id whose node they do not run.
// Before either signs, the nonce is searched so that the binding's id carries the run's proof of
// work (work.ts). docs/PROTOCOL.md ("Identity and chain") defines every field.
import { hexToU8a, u8aToHex, u8aWrapBytes } from '@polkadot/util';
import { decodeAddress, signatureVerify } from '@polkadot/util-crypto';
import { canonicalBytes, canonicalHash } from './canonical.ts';
import { IdentityError } from './errors.ts';
import { expectAddress, expectBoolean, expectHex, expectInteger, expectLiteral, expectRecord, expectString, type Hex } from './fields.ts';
import { KEY_TYPES, verifySignature, type KeyType, type SigningKey } from './keys.ts';
import { peerIdOf, peerPublicKey } from './peer-id.ts';
import { findWorkNonce } from './work.ts';

export const BINDING_KIND = 'webloco/binding/v1';

/** A run id: 1..64 printable characters without spaces (it is also written into payload headers). */
export const RUN_ID_PATTERN = /^[\x21-\x7e]{1,64}$/;

export interface SessionBinding {
  kind: typeof BINDING_KIND;
  /** The training run this session takes part in. */
  run: string;
  /** The signing account: SS58, prefix 42, sr25519. */
  hotkey: string;
  /** The libp2p PeerId the session's node uses: an Ed25519 one (12D3KooW…). */
  peerId: string;
  /** The session key's public key, 0x + 64 hex digits. */
  sessionKey: Hex;
  sessionKeyType: KeyType;
  /** Milliseconds since the Unix epoch after which the binding is void. */
  expiresAt: number;
  /** 16 random bytes, so two sessions of one hotkey never produce the same binding. */
  nonce: Hex;
  /** True for a throwaway key made for a demo; such a participant holds no real account. */
  burner: boolean;
}

export interface SignedBinding {
  binding: SessionBinding;
  /** The hotkey's signature over <Bytes>canonical JSON</Bytes>, 0x-hex. */
  signature: Hex;
  /** The PeerId's own Ed25519 key's signature over the canonical JSON (not wrapped), 0x-hex. */
  peerSignature: Hex;
}

/** A binding whose signature, run, expiry and fields have been checked. */
export interface VerifiedBinding extends SignedBinding {
  /** blake3 of the binding's canonical bytes: how announcements and the chain refer to it. */
  id: Hex;
  sessionPublicKey: Uint8Array;
}

/**
 * Whatever can sign for a hotkey the way a wallet extension's signer.signRaw does: given hex data
 * it signs <Bytes>data</Bytes> with the account's sr25519 key. The wallet connector and the
 * burner key both provide one.
 */
export interface HotkeySigner {
  /** SS58 address, prefix 42. */
  address: string;
  /** What to show the participant: the extension and account name, or that it is a burner key. */
  label: string;
  burner: boolean;
  signRaw(data: Hex): Promise<Hex>;
}

/** Sessions last at most this long; a tab that stays longer signs a new binding. */
const MAX_SESSION_MS = 7 * 24 * 3600 * 1000;
const DEFAULT_SESSION_MS = 12 * 3600 * 1000;

export function bindingBytes(binding: SessionBinding): Uint8Array {
  return canonicalBytes(binding);
}

export function bindingId(binding: SessionBinding): Hex {
  return canonicalHash(binding);
}

/**
 * Builds the binding for `sessionKey` and the node whose libp2p key is `peer`, searches its nonce
 * for `workBits` of proof of work (the chain's, docs/PROTOCOL.md), then has `signer` sign it (one
 * wallet prompt) and `peer` sign it too.
 */
export async function signBinding(
  signer: HotkeySigner,
  options: {
    run: string;
    peer: SigningKey;
    sessionKey: SigningKey;
    workBits?: number;
    expiresAt?: number;
    now?: number;
    signal?: AbortSignal;
  },
): Promise<SignedBinding> {
  if (options.peer.type !== 'ed25519') throw new RangeError('a binding names an Ed25519 PeerId: the peer key must be ed25519');
  const now = options.now ?? Date.now();
  const binding: SessionBinding = {
    kind: BINDING_KIND,
    run: options.run,
    hotkey: signer.address,
    peerId: peerIdOf(options.peer.publicKey),
    sessionKey: options.sessionKey.publicKeyHex,
    sessionKeyType: options.sessionKey.type,
    expiresAt: options.expiresAt ?? now + DEFAULT_SESSION_MS,
    nonce: u8aToHex(crypto.getRandomValues(new Uint8Array(16))),
    burner: signer.burner,
  };
  parseBinding(binding); // refuse to ask the wallet to sign something every verifier would refuse
  if (options.workBits) {
    const bytes = bindingBytes(binding);
    const offset = new TextDecoder().decode(bytes).indexOf(`"nonce":"${binding.nonce}"`) + '"nonce":"0x'.length;
    binding.nonce = await findWorkNonce(bytes, offset, options.workBits, options.signal);
  }
  const bytes = bindingBytes(binding);
  const signature = await signer.signRaw(u8aToHex(bytes));
  return { binding, signature, peerSignature: options.peer.sign(bytes) };
}

/**
 * The hotkey's sr25519 signature over the bytes, wrapped in <Bytes>…</Bytes> or not, bare (64
 * bytes) or as a MultiSignature (a type byte 1 first): what signatureVerify accepts as sr25519,
 * checked directly (it tries every scheme, about ten times slower, and every verifier replaying
 * a chain checks every binding).
 */
function isHotkeySignature(bytes: Uint8Array, signature: Hex, hotkey: string): boolean {
  const raw = signature.length === 132 ? (signature.startsWith('0x01') ? `0x${signature.slice(4)}` : undefined) : signature;
  if (raw === undefined) return false;
  const publicKey = decodeAddress(hotkey);
  return verifySignature('sr25519', u8aWrapBytes(bytes), raw as Hex, publicKey) || verifySignature('sr25519', bytes, raw as Hex, publicKey);
}

/** Checks the fields of an untrusted binding (not its signature). */
function parseBinding(value: unknown): SessionBinding {
  const b = expectRecord(value, 'binding', [
    'kind',
    'run',
    'hotkey',
    'peerId',
    'sessionKey',
    'sessionKeyType',
    'expiresAt',
    'nonce',
    'burner',
  ]);
  const sessionKeyType = b.sessionKeyType;
  if (!KEY_TYPES.includes(sessionKeyType as KeyType))
    throw new IdentityError('malformed', `binding.sessionKeyType must be one of ${KEY_TYPES.join(', ')}`);
  return {
    kind: expectLiteral(b.kind, 'binding.kind', BINDING_KIND),
    run: expectString(b.run, 'binding.run', 64, RUN_ID_PATTERN),
    hotkey: expectAddress(b.hotkey, 'binding.hotkey'),
    peerId: expectString(b.peerId, 'binding.peerId', 128),
    sessionKey: expectHex(b.sessionKey, 'binding.sessionKey', 32),
    sessionKeyType: sessionKeyType as KeyType,
    expiresAt: expectInteger(b.expiresAt, 'binding.expiresAt', 0, Number.MAX_SAFE_INTEGER),
    nonce: expectHex(b.nonce, 'binding.nonce', 16),
    burner: expectBoolean(b.burner, 'binding.burner'),
  };
}

/**
 * Verifies an untrusted signed binding for `run` at time `now` (ms): fields, SS58 prefix 42, run,
 * expiry (and that it does not reach further than MAX_SESSION_MS past `now`), the hotkey's
 * sr25519 signature over the canonical bytes, wrapped in <Bytes>…</Bytes> as signRaw does (the
 * unwrapped form is accepted too: signatureVerify tries both, and either proves the same intent),
 * then the PeerId's Ed25519 signature over the same bytes.
 */
export function verifyBinding(value: unknown, expected: { run: string; now: number }): VerifiedBinding {
  const signed = expectRecord(value, 'signed binding', ['binding', 'signature', 'peerSignature']);
  const binding = parseBinding(signed.binding);
  const peerKey = peerPublicKey(binding.peerId);
  const peerSignature = expectHex(signed.peerSignature, 'signed binding.peerSignature', 64);
  const signature = signed.signature;
  if (typeof signature !== 'string' || !/^0x([0-9a-f]{128}|[0-9a-f]{130})$/.test(signature)) {
    throw new IdentityError(
      'malformed',
      'signed binding.signature must be 0x + 128 lowercase hex digits (64 bytes; 65 with a MultiSignature type byte)',
    );
  }
  if (binding.run !== expected.run)
    throw new IdentityError('wrong-run', `the binding is for run '${binding.run}', this is run '${expected.run}'`);
  if (binding.expiresAt <= expected.now) {
    throw new IdentityError(
      'expired',
      `the session binding expired at ${new Date(binding.expiresAt).toISOString()}: sign a new binding to continue`,
    );
  }
  if (binding.expiresAt > expected.now + MAX_SESSION_MS) {
    throw new IdentityError(
      'malformed',
      `the binding expires ${new Date(binding.expiresAt).toISOString()}, more than ${MAX_SESSION_MS / 3600_000} hours ahead: sessions must be shorter`,
    );
  }
  const bytes = bindingBytes(binding);
  if (!isHotkeySignature(bytes, signature as Hex, binding.hotkey)) {
    // Not an sr25519 signature by the hotkey: signatureVerify tries every scheme, to say which it was.
    let result: ReturnType<typeof signatureVerify>;
    try {
      result = signatureVerify(bytes, signature, binding.hotkey);
    } catch (error) {
      throw new IdentityError('bad-signature', `the binding's signature could not be checked: ${(error as Error).message}`);
    }
    if (result.isValid && result.crypto !== 'sr25519') {
      throw new IdentityError(
        'bad-signature',
        `the binding is signed with ${result.crypto}; hotkeys sign with sr25519 (as on Bittensor): pick an sr25519 account`,
      );
    }
    throw new IdentityError('bad-signature', `the binding is not signed by its hotkey ${binding.hotkey}`);
  }
  if (!verifySignature('ed25519', bytes, peerSignature, peerKey)) {
    throw new IdentityError(
      'bad-signature',
      `the binding is not signed by the libp2p key of its PeerId ${binding.peerId}: a binding names only a node its signer runs`,
    );
  }
  return {
    binding,
    signature: signature as Hex,
    peerSignature,
    id: bindingId(binding),
    sessionPublicKey: hexToU8a(binding.sessionKey),
  };
}
