// The session binding and a round's announcement as Subtensor commitments: compact binary records
// that Commitments.set_commitment stores as `BigRaw` fields (at most 512 bytes each) under the
// hotkey's account. Everything the chain already knows is left out and put back when reading:
// the kind strings, the run (the adapter's), the hotkey (the account the commitment is stored
// under) and the announcement's binding id (blake3 of the binding in the same commitment). What
// remains is written exactly, so the reader rebuilds the very object that was signed and checks
// its signature as the dev chain does. docs/PROTOCOL.md ("Subtensor adapter") lays out the bytes.
import { hexToU8a, u8aToHex } from '@polkadot/util';
import { base58Decode, base58Encode } from '@polkadot/util-crypto';
import { ANNOUNCEMENT_KIND, MAX_U32, verifyAnnouncement, type SignedAnnouncement } from '../../identity/announcement.ts';
import { BINDING_KIND, verifyBinding, type SignedBinding, type VerifiedBinding } from '../../identity/binding.ts';
import type { Hex } from '../../identity/fields.ts';
import type { KeyType } from '../../identity/keys.ts';
import { asChainError, ChainError } from '../extrinsics.ts';

/** Largest `BigRaw` commitment field (MAX_BIGRAW_COMMITMENT_SIZE_BYTES, pallets/commitments/src/types.rs:386). */
export const MAX_COMMITMENT_FIELD_BYTES = 512;
/** The first four bytes of each record: what it is and its layout version. */
export const BINDING_RECORD_MAGIC = 'wlb2';
export const ANNOUNCEMENT_RECORD_MAGIC = 'wla1';
/** magic 4 + round 4 + baseModelHash 32 + payloadHash 32 + bytes 4 + nonce 4 + signature 64. */
export const ANNOUNCEMENT_RECORD_BYTES = 144;

const SESSION_KEY_TYPES: readonly KeyType[] = ['sr25519', 'ed25519'];
const ascii = new TextEncoder();

/** Appends fixed-layout fields to a byte buffer (little-endian integers, as SCALE). */
class RecordWriter {
  readonly #parts: Uint8Array[] = [];

  bytes(value: Uint8Array): this {
    this.#parts.push(value);
    return this;
  }
  hex(value: Hex, length: number): this {
    const bytes = hexToU8a(value);
    if (bytes.length !== length) throw new RangeError(`expected ${length} bytes, got ${bytes.length}`);
    return this.bytes(bytes);
  }
  u8(value: number): this {
    return this.bytes(Uint8Array.of(value));
  }
  u32(value: number): this {
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setUint32(0, value, true);
    return this.bytes(bytes);
  }
  u64(value: number): this {
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(value), true);
    return this.bytes(bytes);
  }
  /** One length byte, then the bytes. */
  short(value: Uint8Array): this {
    if (value.length > 255) throw new RangeError(`a short field holds at most 255 bytes, got ${value.length}`);
    return this.u8(value.length).bytes(value);
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.#parts.reduce((sum, part) => sum + part.length, 0));
    let offset = 0;
    for (const part of this.#parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }
}

/** Reads what RecordWriter wrote; any overrun or leftover is a malformed record. */
class RecordReader {
  readonly #bytes: Uint8Array;
  readonly #what: string;
  #offset = 0;

  constructor(bytes: Uint8Array, what: string) {
    this.#bytes = bytes;
    this.#what = what;
  }
  bytes(length: number): Uint8Array {
    if (this.#offset + length > this.#bytes.length)
      throw new ChainError('malformed', `the ${this.#what} record ends after ${this.#bytes.length} bytes, in the middle of a field`);
    const out = this.#bytes.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return out;
  }
  hex(length: number): Hex {
    return u8aToHex(this.bytes(length));
  }
  u8(): number {
    return this.bytes(1)[0]!;
  }
  u32(): number {
    const b = this.bytes(4);
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
  }
  u64(): number {
    const b = this.bytes(8);
    const value = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER))
      throw new ChainError('malformed', `the ${this.#what} record holds ${value}, above the largest safe integer`);
    return Number(value);
  }
  short(): Uint8Array {
    return this.bytes(this.u8());
  }
  magic(expected: string): void {
    const found = new TextDecoder().decode(this.bytes(4));
    if (found !== expected)
      throw new ChainError(
        'malformed',
        `not a WebLoCo ${this.#what} record: it starts with ${JSON.stringify(found)}, not ${JSON.stringify(expected)}`,
      );
  }
  end(): void {
    if (this.#offset !== this.#bytes.length)
      throw new ChainError('malformed', `the ${this.#what} record has ${this.#bytes.length - this.#offset} bytes after its last field`);
  }
}

/** The PeerId's binary multihash; refuses a string that base58 would not give back unchanged. */
function peerIdBytes(peerId: string): Uint8Array {
  const bytes = base58Decode(peerId);
  if (base58Encode(bytes) !== peerId)
    throw new ChainError('malformed', `the PeerId ${peerId} does not round-trip through base58btc: it cannot be written compactly`);
  return bytes;
}

/**
 * The binding record: magic "wlb2", session key type (0 sr25519, 1 ed25519), burner (0/1),
 * session key 32, expiresAt u64 LE (ms), nonce 16, PeerId multihash (1 length byte + bytes),
 * hotkey signature (1 length byte + 64 or 65 bytes), the PeerId key's signature 64. 230 bytes for
 * an Ed25519 PeerId (12D3KooW…) and a 64-byte hotkey signature; at most 4+2+32+8+16+1+255+1+65+64
 * = 448 in any case.
 */
export function encodeBindingRecord(signed: SignedBinding): Uint8Array {
  const { binding } = signed;
  const signature = hexToU8a(signed.signature);
  return new RecordWriter()
    .bytes(ascii.encode(BINDING_RECORD_MAGIC))
    .u8(SESSION_KEY_TYPES.indexOf(binding.sessionKeyType))
    .u8(binding.burner ? 1 : 0)
    .hex(binding.sessionKey, 32)
    .u64(binding.expiresAt)
    .hex(binding.nonce, 16)
    .short(peerIdBytes(binding.peerId))
    .short(signature)
    .hex(signed.peerSignature, 64)
    .finish();
}

/**
 * Rebuilds the signed binding from its record, the run and the hotkey it is stored under. Only
 * the layout is checked here: pass the result to verifyBinding for the fields and signature.
 */
export function decodeBindingRecord(bytes: Uint8Array, context: { run: string; hotkey: string }): SignedBinding {
  const reader = new RecordReader(bytes, 'binding');
  reader.magic(BINDING_RECORD_MAGIC);
  const keyType = SESSION_KEY_TYPES[reader.u8()];
  if (keyType === undefined) throw new ChainError('malformed', 'the binding record names an unknown session key type');
  const burner = reader.u8();
  if (burner > 1) throw new ChainError('malformed', 'the binding record has a burner flag other than 0 or 1');
  const sessionKey = reader.hex(32);
  const expiresAt = reader.u64();
  const nonce = reader.hex(16);
  const peerId = base58Encode(reader.short());
  const signature = u8aToHex(reader.short());
  const peerSignature = reader.hex(64);
  reader.end();
  return {
    binding: {
      kind: BINDING_KIND,
      run: context.run,
      hotkey: context.hotkey,
      peerId,
      sessionKey,
      sessionKeyType: keyType,
      expiresAt,
      nonce,
      burner: burner === 1,
    },
    signature,
    peerSignature,
  };
}

/**
 * The announcement record, ANNOUNCEMENT_RECORD_BYTES long: magic "wla1", round u32 LE,
 * baseModelHash 32, payloadHash 32, bytes u32 LE, nonce u32 LE, session-key signature 64.
 */
export function encodeAnnouncementRecord(signed: SignedAnnouncement): Uint8Array {
  const { announcement } = signed;
  for (const [name, value] of [
    ['round', announcement.round],
    ['bytes', announcement.bytes],
    ['nonce', announcement.nonce],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0 || value > MAX_U32)
      throw new ChainError('malformed', `announcement.${name} ${value} does not fit a u32`);
  }
  return new RecordWriter()
    .bytes(ascii.encode(ANNOUNCEMENT_RECORD_MAGIC))
    .u32(announcement.round)
    .hex(announcement.baseModelHash, 32)
    .hex(announcement.payloadHash, 32)
    .u32(announcement.bytes)
    .u32(announcement.nonce)
    .hex(signed.signature, 64)
    .finish();
}

/** Rebuilds the signed announcement; `binding` is the id of the binding stored beside it. */
export function decodeAnnouncementRecord(bytes: Uint8Array, context: { run: string; binding: Hex }): SignedAnnouncement {
  const reader = new RecordReader(bytes, 'announcement');
  reader.magic(ANNOUNCEMENT_RECORD_MAGIC);
  const round = reader.u32();
  const baseModelHash = reader.hex(32);
  const payloadHash = reader.hex(32);
  const payloadBytes = reader.u32();
  const nonce = reader.u32();
  const signature = reader.hex(64);
  reader.end();
  return {
    announcement: {
      kind: ANNOUNCEMENT_KIND,
      run: context.run,
      round,
      binding: context.binding,
      baseModelHash,
      payloadHash,
      bytes: payloadBytes,
      nonce,
    },
    signature,
  };
}

/** What a participant's hotkey has committed on the subnet: its binding and its latest announcement. */
export interface PeerCommitment {
  binding: VerifiedBinding;
  /** Field 1, when present: the latest announcement signed by that binding's session key. */
  announcement?: SignedAnnouncement;
}

/**
 * Reads and verifies the commitment fields a hotkey stored: field 0 the binding record, field 1
 * (optional) the announcement record. The binding is verified at `now` (ms) as the dev chain
 * would at a block's timestamp; the announcement against that binding, for any round (the caller
 * picks rounds). Throws ChainError saying what is wrong.
 */
export function readPeerCommitment(
  fields: readonly (Uint8Array | undefined)[],
  context: { run: string; hotkey: string; now: number },
): PeerCommitment {
  const [bindingField, announcementField, ...rest] = fields;
  if (bindingField === undefined || rest.length > 0)
    throw new ChainError(
      'malformed',
      `the commitment of ${context.hotkey} is not a WebLoCo binding (and announcement): it has ${fields.length} fields`,
    );
  const binding = asChainError(() => verifyBinding(decodeBindingRecord(bindingField, context), { run: context.run, now: context.now }));
  if (announcementField === undefined) {
    if (fields.length > 1)
      throw new ChainError('malformed', `the commitment of ${context.hotkey} has a second field that is not raw bytes`);
    return { binding };
  }
  const signed = decodeAnnouncementRecord(announcementField, { run: context.run, binding: binding.id });
  const { announcement, signature } = asChainError(() =>
    verifyAnnouncement(signed, {
      run: context.run,
      acceptRound: () => true,
      bindingOf: (id) => (id === binding.id ? binding : undefined),
      now: context.now,
    }),
  );
  return { binding, announcement: { announcement, signature } };
}
