// The Subtensor adapter, offline: a recorded Subtensor runtime metadata (fixtures/README.md says
// where it is from) decoded into a registry with no ApiPromise and no network; every call the
// adapter submits built from it and checked byte for byte against hand-written SCALE; the weights
// commit hash; the storage keys and values of the metagraph from hand-made SCALE; the binding and
// announcement commitment records (sizes, round trip, signatures still verifying). Nothing here
// opens a socket: what needs a live chain is listed in README.md ("Subtensor").
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeVersion } from '@polkadot/types/interfaces';
import polkadotMetadata from '@polkadot/types-support/metadata/static-polkadot';
import { hexToU8a, u8aConcat, u8aToHex } from '@polkadot/util';
import { blake2AsU8a, decodeAddress, xxhashAsU8a } from '@polkadot/util-crypto';
import { ChainError } from '../../src/chain/extrinsics.ts';
import {
  ANNOUNCEMENT_RECORD_BYTES,
  decodeAnnouncementRecord,
  decodeBindingRecord,
  encodeAnnouncementRecord,
  encodeBindingRecord,
  MAX_COMMITMENT_FIELD_BYTES,
  readPeerCommitment,
} from '../../src/chain/subtensor/commitment.ts';
import { REQUIRED_CALLS, REQUIRED_STORAGE, SUBTENSOR_SIGNED_EXTENSIONS, SubtensorRuntime } from '../../src/chain/subtensor/runtime.ts';
import { bindingId, verifyBinding } from '../../src/identity/binding.ts';
import { createBurnerSigner } from '../../src/identity/burner.ts';
import type { Hex } from '../../src/identity/fields.ts';
import { SigningKey } from '../../src/identity/keys.ts';
import { Session } from '../../src/identity/session.ts';

const FIXTURE = new URL('./fixtures/subtensor-metadata-spec381.scale', import.meta.url);
const FIXTURE_SHA256 = '9a84d63fd8a4c4aa419ecef50a26a9e5fcb6132e82476cb116fc4d1c72ee696a';
const RUN = 'subtensor-test';
// Alice's well-known dev account: a fixed 32-byte public key for exact expected bytes.
const ALICE = '5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY';
const ALICE_HEX = 'd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d';
const NETUID = 3;

const hex = (...parts: string[]): Hex => `0x${parts.join('')}`;
const le16 = (n: number) => Buffer.from(Uint16Array.of(n).buffer).toString('hex');

let runtime: SubtensorRuntime;
let session: Session;

beforeAll(async () => {
  const bytes = readFileSync(FIXTURE);
  expect(createHash('sha256').update(bytes).digest('hex'), 'the metadata fixture is not the recorded file').toBe(FIXTURE_SHA256);
  runtime = SubtensorRuntime.fromMetadata(bytes);
  session = await Session.start(await createBurnerSigner(), { run: RUN, peer: SigningKey.generate('ed25519') });
});

describe('the recorded Subtensor metadata', () => {
  it('is metadata v16 of node-subtensor spec 381, with the pallets at their indices', () => {
    expect(runtime.metadata.version).toBe(16);
    const version: RuntimeVersion = runtime.registry.createType(
      'RuntimeVersion',
      runtime.metadata.asLatest.pallets.find((p) => p.name.eq('System'))!.constants.find((c) => c.name.eq('Version'))!.value,
    );
    expect(version.specName.toString()).toBe('node-subtensor');
    expect(version.specVersion.toNumber()).toBe(381);
    const index = (name: string) => runtime.metadata.asLatest.pallets.find((p) => p.name.eq(name))?.index.toNumber();
    expect([index('SubtensorModule'), index('Commitments')]).toEqual([7, 18]);
  });

  it('holds every call and storage item the adapter uses, with the documented argument types', () => {
    const lookup = runtime.registry.lookup;
    const signature = (pallet: string, call: string) => {
      const calls = runtime.metadata.asLatest.pallets.find((p) => p.name.eq(pallet))!.calls.unwrap();
      const variant = lookup.getSiType(calls.type).def.asVariant.variants.find((v) => v.name.eq(call))!;
      return {
        index: variant.index.toNumber(),
        args: variant.fields.map((f) => `${f.name.toString()}: ${lookup.getTypeDef(f.type).type}`),
      };
    };
    expect(signature('SubtensorModule', 'burned_register')).toEqual({ index: 7, args: ['netuid: u16', 'hotkey: AccountId32'] });
    expect(signature('SubtensorModule', 'set_weights')).toEqual({
      index: 0,
      args: ['netuid: u16', 'dests: Vec<u16>', 'weights: Vec<u16>', 'version_key: u64'],
    });
    expect(signature('SubtensorModule', 'commit_weights')).toEqual({ index: 96, args: ['netuid: u16', 'commit_hash: H256'] });
    expect(signature('SubtensorModule', 'reveal_weights')).toEqual({
      index: 97,
      args: ['netuid: u16', 'uids: Vec<u16>', 'values: Vec<u16>', 'salt: Vec<u16>', 'version_key: u64'],
    });
    expect(signature('Commitments', 'set_commitment')).toEqual({
      index: 0,
      args: ['netuid: u16', 'info: {"fields":"Vec<PalletCommitmentsData>"}'],
    });
    for (const [pallet, calls] of Object.entries(REQUIRED_CALLS))
      for (const call of calls) expect(signature(pallet, call).index, `${pallet}.${call}`).toBeGreaterThanOrEqual(0);
    for (const [pallet, items] of Object.entries(REQUIRED_STORAGE)) {
      const storage = runtime.metadata.asLatest.pallets
        .find((p) => p.name.eq(pallet))!
        .storage.unwrap()
        .items.map((i) => i.name.toString());
      for (const item of items) expect(storage, `${pallet}.${item}`).toContain(item);
    }
  });

  it('has Subtensor-specific transaction extensions that carry and sign nothing, as the adapter declares them', () => {
    const lookup = runtime.registry.lookup;
    const extensions = runtime.metadata.asLatest.extrinsic.transactionExtensions;
    const declared = extensions.filter((e) => Object.hasOwn(SUBTENSOR_SIGNED_EXTENSIONS, e.identifier.toString()));
    expect(declared.map((e) => e.identifier.toString())).toEqual([
      'SudoTransactionExtension',
      'SubtensorTransactionExtension',
      'DrandPriority',
    ]);
    for (const extension of declared) {
      expect(lookup.getTypeDef(extension.type).type, extension.identifier.toString()).toBe('Null');
      expect(lookup.getTypeDef(extension.implicit).type, extension.identifier.toString()).toBe('Null');
    }
  });

  it("refuses metadata that lacks what the adapter needs (Polkadot's, shipped with @polkadot/api)", () => {
    expect(() => SubtensorRuntime.fromMetadata(polkadotMetadata as Hex)).toThrow(
      /lacks call SubtensorModule.burned_register, .*storage Commitments.CommitmentOf/,
    );
  });
});

describe('calls, encoded from the metadata', () => {
  function roundTrip(call: { toHex(): string }) {
    const decoded = runtime.registry.createType('Call', call.toHex());
    return { section: decoded.section, method: decoded.method, args: decoded.args.map((a) => a.toJSON()) };
  }

  it('burned_register(netuid, hotkey)', () => {
    const call = runtime.burnedRegister(NETUID, ALICE);
    expect(call.toHex()).toBe(hex('07', '07', le16(NETUID), ALICE_HEX));
    expect(roundTrip(call)).toEqual({ section: 'subtensorModule', method: 'burnedRegister', args: [NETUID, ALICE] });
  });

  it('set_weights(netuid, dests, weights, version_key)', () => {
    const call = runtime.setWeights(NETUID, [0, 5, 300], [65535, 100, 0], 7n);
    expect(call.toHex()).toBe(
      hex('07', '00', le16(NETUID), '0c', '0000', '0500', '2c01', '0c', 'ffff', '6400', '0000', '0700000000000000'),
    );
    expect(roundTrip(call)).toEqual({ section: 'subtensorModule', method: 'setWeights', args: [NETUID, [0, 5, 300], [65535, 100, 0], 7] });
  });

  it('commit_weights(netuid, hash) and reveal_weights(netuid, uids, values, salt, version_key)', () => {
    const hash = `0x${'5a'.repeat(32)}` as Hex;
    expect(runtime.commitWeights(NETUID, hash).toHex()).toBe(hex('07', '60', le16(NETUID), '5a'.repeat(32)));
    const reveal = runtime.revealWeights(NETUID, [1, 2], [10, 20], [9, 8, 7], 1n);
    expect(reveal.toHex()).toBe(
      hex('07', '61', le16(NETUID), '08', '0100', '0200', '08', '0a00', '1400', '0c', '0900', '0800', '0700', '0100000000000000'),
    );
    expect(roundTrip(reveal).method).toBe('revealWeights');
  });

  it('the commit hash is BlakeTwo256 of SCALE (hotkey, netuid, uids, values, salt, version_key)', () => {
    const expected = blake2AsU8a(
      hexToU8a(hex(ALICE_HEX, le16(NETUID), '08', '0100', '0200', '08', '0a00', '1400', '0c', '0900', '0800', '0700', '0100000000000000')),
      256,
    );
    expect(runtime.weightsCommitHash(ALICE, NETUID, [1, 2], [10, 20], [9, 8, 7], 1n)).toBe(u8aToHex(expected));
  });

  it('set_commitment(netuid, {fields: [BigRaw(binding), BigRaw(announcement)]})', () => {
    const binding = encodeBindingRecord(session.signed);
    const announcement = encodeAnnouncementRecord(
      session.announce({ round: 9, baseModelHash: `0x${'11'.repeat(32)}` as Hex, payloadHash: `0x${'22'.repeat(32)}` as Hex, bytes: 4321 }),
    );
    expect(binding.length).toBe(230);
    const call = runtime.setCommitment(NETUID, [binding, announcement]);
    // 0x88 = BigRaw (variant 136); its length is SCALE compact: 230 → 0x9903, 144 → 0x4102.
    expect(call.toHex()).toBe(
      hex('12', '00', le16(NETUID), '08', '88', '9903', u8aToHex(binding).slice(2), '88', '4102', u8aToHex(announcement).slice(2)),
    );
    expect(() => runtime.setCommitment(NETUID, [new Uint8Array(MAX_COMMITMENT_FIELD_BYTES + 1)])).toThrow(/at most 512/);
  });
});

describe('the commitment records', () => {
  it('the binding record is 230 bytes for an Ed25519 PeerId, and rebuilds the signed binding exactly', () => {
    const record = encodeBindingRecord(session.signed);
    expect(record.length).toBeLessThanOrEqual(MAX_COMMITMENT_FIELD_BYTES);
    expect(new TextDecoder().decode(record.subarray(0, 4))).toBe('wlb2');
    const rebuilt = decodeBindingRecord(record, { run: RUN, hotkey: session.signed.binding.hotkey });
    expect(rebuilt).toEqual(session.signed);
    expect(verifyBinding(rebuilt, { run: RUN, now: Date.now() }).id).toBe(bindingId(session.signed.binding));
  });

  it('a longer PeerId and a 65-byte signature still fit 512 bytes', () => {
    // Bindings name Ed25519 PeerIds, but the record takes any: 124 base58 characters here.
    const longPeer = '1'.repeat(2) + session.signed.binding.peerId.slice(2) + 'z'.repeat(70);
    const signed = {
      ...session.signed,
      binding: { ...session.signed.binding, peerId: longPeer },
      signature: `${session.signed.signature}01` as Hex,
    };
    const record = encodeBindingRecord(signed);
    expect(record.length).toBeLessThanOrEqual(MAX_COMMITMENT_FIELD_BYTES);
    expect(decodeBindingRecord(record, { run: RUN, hotkey: signed.binding.hotkey })).toEqual(signed);
  });

  it('the announcement record is 144 bytes and rebuilds the signed announcement', () => {
    const signed = session.announce({
      round: 77,
      baseModelHash: `0x${'33'.repeat(32)}` as Hex,
      payloadHash: `0x${'44'.repeat(32)}` as Hex,
      bytes: 256 * 1024 * 1024,
    });
    const record = encodeAnnouncementRecord(signed);
    expect(record.length).toBe(ANNOUNCEMENT_RECORD_BYTES);
    expect(decodeAnnouncementRecord(record, { run: RUN, binding: session.id })).toEqual(signed);
  });

  it('refuses a record of another kind, cut short, or with bytes left over', () => {
    const record = encodeBindingRecord(session.signed);
    const context = { run: RUN, hotkey: session.signed.binding.hotkey };
    for (const bad of [
      encodeAnnouncementRecord(
        session.announce({ round: 1, baseModelHash: `0x${'33'.repeat(32)}` as Hex, payloadHash: `0x${'44'.repeat(32)}` as Hex, bytes: 1 }),
      ),
      record.subarray(0, 100),
      u8aConcat(record, [0]),
    ]) {
      expect(() => decodeBindingRecord(bad, context)).toThrow(ChainError);
    }
  });

  it('readPeerCommitment verifies the binding and the announcement, and refuses a binding stored under another hotkey', async () => {
    const signed = session.announce({
      round: 5,
      baseModelHash: `0x${'55'.repeat(32)}` as Hex,
      payloadHash: `0x${'66'.repeat(32)}` as Hex,
      bytes: 99,
    });
    const fields = [encodeBindingRecord(session.signed), encodeAnnouncementRecord(signed)];
    const read = readPeerCommitment(fields, { run: RUN, hotkey: session.signed.binding.hotkey, now: Date.now() });
    expect(read.binding.id).toBe(session.id);
    expect(read.announcement).toEqual(signed);
    expect(
      readPeerCommitment(fields.slice(0, 1), { run: RUN, hotkey: session.signed.binding.hotkey, now: Date.now() }).announcement,
    ).toBeUndefined();
    const stranger = (await createBurnerSigner()).address;
    expect(() => readPeerCommitment(fields, { run: RUN, hotkey: stranger, now: Date.now() })).toThrow(/not signed by its hotkey/);
    expect(() => readPeerCommitment(fields, { run: 'another-run', hotkey: session.signed.binding.hotkey, now: Date.now() })).toThrow(
      /not signed by its hotkey/,
    );
    const tampered = Uint8Array.from(fields[1]!);
    tampered[10]! ^= 1; // inside baseModelHash
    expect(() => readPeerCommitment([fields[0]!, tampered], { run: RUN, hotkey: session.signed.binding.hotkey, now: Date.now() })).toThrow(
      /not signed by the session key/,
    );
    expect(() =>
      readPeerCommitment(fields, { run: RUN, hotkey: session.signed.binding.hotkey, now: session.signed.binding.expiresAt }),
    ).toThrow(/expired/);
  });
});

describe('storage keys and values of the metagraph', () => {
  const prefix = (pallet: string, item: string) => u8aToHex(u8aConcat(xxhashAsU8a(pallet, 128), xxhashAsU8a(item, 128))).slice(2);

  it('keys: Identity netuid, then Identity uid or Blake2_128Concat / Twox64Concat account', () => {
    expect(runtime.key('SubtensorModule.Keys', NETUID, 5)).toBe(hex(prefix('SubtensorModule', 'Keys'), le16(NETUID), le16(5)));
    expect(runtime.key('SubtensorModule.Uids', NETUID, ALICE)).toBe(
      hex(prefix('SubtensorModule', 'Uids'), le16(NETUID), u8aToHex(blake2AsU8a(decodeAddress(ALICE), 128)).slice(2), ALICE_HEX),
    );
    expect(runtime.key('SubtensorModule.Incentive', NETUID)).toBe(hex(prefix('SubtensorModule', 'Incentive'), le16(NETUID)));
    expect(runtime.key('SubtensorModule.TotalHotkeyAlpha', ALICE, NETUID)).toBe(
      hex(
        prefix('SubtensorModule', 'TotalHotkeyAlpha'),
        u8aToHex(blake2AsU8a(decodeAddress(ALICE), 128)).slice(2),
        ALICE_HEX,
        le16(NETUID),
      ),
    );
    expect(runtime.key('Timestamp.Now')).toBe(hex(prefix('Timestamp', 'Now')));
    const commitmentKey = runtime.key('Commitments.CommitmentOf', NETUID, ALICE);
    expect(commitmentKey).toBe(
      hex(prefix('Commitments', 'CommitmentOf'), le16(NETUID), u8aToHex(xxhashAsU8a(decodeAddress(ALICE), 64)).slice(2), ALICE_HEX),
    );
    expect(runtime.keyPrefix('Commitments.CommitmentOf', NETUID)).toBe(hex(prefix('Commitments', 'CommitmentOf'), le16(NETUID)));
    expect(runtime.hotkeyOfCommitmentKey(commitmentKey)).toBe(ALICE);
  });

  it('values: accounts, u16/u64/bool vectors, numbers, absent Option and ValueQuery defaults', () => {
    expect(runtime.address(runtime.decode('SubtensorModule.Keys', hex(ALICE_HEX))!)).toBe(ALICE);
    expect(runtime.decode('SubtensorModule.Uids', null)).toBeUndefined();
    expect(runtime.decode('SubtensorModule.Uids', hex(le16(17)))!.toJSON()).toBe(17);
    expect(runtime.decode('SubtensorModule.Incentive', hex('0c', 'ffff', '0100', '0000'))!.toJSON()).toEqual([65535, 1, 0]);
    expect(runtime.decode('SubtensorModule.Dividends', null)!.toJSON()).toEqual([]);
    expect(runtime.decode('SubtensorModule.Consensus', hex('04', '3412'))!.toJSON()).toEqual([0x1234]);
    expect(runtime.decode('SubtensorModule.LastUpdate', hex('08', '0a00000000000000', 'ffffffff00000000'))!.toJSON()).toEqual([
      10, 0xffffffff,
    ]);
    expect(runtime.decode('SubtensorModule.ValidatorPermit', hex('0c', '01', '00', '01'))!.toJSON()).toEqual([true, false, true]);
    expect(runtime.decode('SubtensorModule.TotalHotkeyAlpha', hex('00e40b5402000000'))!.toString()).toBe('10000000000');
    expect(runtime.decode('SubtensorModule.SubnetworkN', hex(le16(256)))!.toJSON()).toBe(256);
    expect(runtime.decode('SubtensorModule.BlockAtRegistration', hex('3930000000000000'))!.toJSON()).toBe(12345);
    expect(runtime.decode('SubtensorModule.CommitRevealWeightsEnabled', hex('01'))!.toJSON()).toBe(true);
    expect(runtime.decode('SubtensorModule.WeightsVersionKey', null)!.toString()).toBe('0');
    expect(runtime.decode('Timestamp.Now', hex('00c809ae2e010000'))!.toString()).toBe(String(1_300_000_000_000));
  });

  it('a CommitmentOf value (deposit, block, fields) gives back the records, and they verify', () => {
    const binding = encodeBindingRecord(session.signed);
    const signed = session.announce({
      round: 6,
      baseModelHash: `0x${'77'.repeat(32)}` as Hex,
      payloadHash: `0x${'88'.repeat(32)}` as Hex,
      bytes: 1000,
    });
    const announcement = encodeAnnouncementRecord(signed);
    // Registration {deposit: u64, block: u32, info: {fields: Vec<Data>}}; Data::BigRaw = 0x88 + compact length + bytes.
    const value = hex(
      '0000000000000000',
      '40e20100',
      '08',
      '88',
      '9903',
      u8aToHex(binding).slice(2),
      '88',
      '4102',
      u8aToHex(announcement).slice(2),
    ) as Hex;
    const stored = runtime.commitment(value)!;
    expect(stored.block).toBe(123_456);
    expect(stored.fields.map((f) => f && u8aToHex(f))).toEqual([u8aToHex(binding), u8aToHex(announcement)]);
    expect(readPeerCommitment(stored.fields, { run: RUN, hotkey: session.signed.binding.hotkey, now: Date.now() }).announcement).toEqual(
      signed,
    );
    // Another subnet's kind of commitment: a Raw3 field and a Sha256 hash (Data variants 4 and 131).
    const foreign = runtime.commitment(hex('0000000000000000', '01000000', '08', '04', 'aabbcc', '83', '99'.repeat(32)) as Hex)!;
    expect(foreign.fields.map((f) => f && u8aToHex(f))).toEqual(['0xaabbcc', undefined]);
    expect(() => readPeerCommitment(foreign.fields, { run: RUN, hotkey: ALICE, now: Date.now() })).toThrow(ChainError);
    expect(runtime.commitment(null)).toBeUndefined();
  });
});
