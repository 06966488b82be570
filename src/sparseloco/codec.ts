// SparseLoCo's wire format: one peer's CompressedUpdate as bytes, and back. The in-chunk indices
// are Golomb-Rice coded as gaps (rice.ts), the 2-bit codes are packed four to a byte, so a chunk
// costs ≈ 480 + 128 bits against 131072 dense: about 212× smaller than fp32 (measured in
// test/sparseloco/codec.test.ts). docs/PROTOCOL.md §2 gives the layout byte by byte, the order in
// which a decoder checks it, and says why Rice coding was chosen over enumerative coding;
// wire-format.ts holds its constants, its field table and its error codes.
//
// Payloads come from strangers. A PayloadDecoder is made for the layout it expects, refuses a
// payload longer than the longest valid one before reading it, checks the whole payload before
// allocating any of the decoded update (one pass that reads every field in order, decoding the
// indices into a working buffer the decoder owns, sized by the layout), allocates exactly what
// the layout says a valid payload needs, and reports the first broken rule as a CodecError.
//
// The encoding is canonical: every choice the format leaves open (the Rice parameter, padding,
// the lookup value of a bin no entry uses, ±0 and subnormal floats) is fixed by a rule, and the
// decoder accepts a payload only if encodeUpdate(decodeUpdate(payload)) gives back the same
// bytes. So equal updates have equal bytes and a payload's hash names one update. The encoder
// refuses whatever the decoder would reject, so an honest peer never publishes a payload that
// the swarm drops.
import { bytesToHex } from '../base/hex.ts';
import { layoutHash } from '../model/hash.ts';
import { MAX_CHUNK_SIDE, NOMINAL_K, chunkGeometry } from './chunking.ts';
import { ftz } from './compress.ts';
import {
  canonicalRiceParameter,
  longestIndexStreamBytes,
  maxIndexStreamBytes,
  quotientSum,
  readIndexStream,
  riceParameterGuess,
  writeIndexStream,
} from './rice.ts';
import type { CompressedTensor, CompressedUpdate, PayloadHeader, TensorChunking, TensorSpecs, WireLayout } from './types.ts';
import {
  HASH_BYTES,
  HEADER,
  HEADER_FIXED_BYTES,
  MAX_ABS_SCALE,
  MAX_ABS_VALUE,
  MAX_CHUNK_SIZE,
  MAX_RICE_PARAMETER,
  MAX_RUN_ID_BYTES,
  MIN_ABS_SCALE,
  SECTION,
  TENSOR_FIXED_BYTES,
  WIRE_MAGIC,
  WIRE_VERSION,
  fail,
  type WireField,
} from './wire-format.ts';

export {
  CodecError,
  HEADER,
  HEADER_FIXED_BYTES,
  MAX_ABS_VALUE,
  MAX_RICE_PARAMETER,
  SECTION,
  TENSOR_FIXED_BYTES,
  type CodecErrorCode,
  type WireField,
} from './wire-format.ts';
export { bestRiceParameter } from './rice.ts';

/** Fields of the header that the encoder takes from the caller; the rest come from the layout. */
export interface PayloadOrigin {
  runId: string;
  round: number;
  baseModelHash: Uint8Array;
}

export interface DecodeOptions {
  /** Reject payloads whose header disagrees with these (header-mismatch). */
  expect?: Partial<PayloadOrigin>;
  /**
   * Called with the byte size of every typed array of the decoded update (tests check the bound).
   * The decoder's working buffer, which depends on the layout only, is not one of them.
   */
  onAllocate?: (bytes: number) => void;
}

export interface DecodedPayload {
  header: PayloadHeader;
  update: CompressedUpdate;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const MAGIC_BYTES = utf8Encoder.encode(WIRE_MAGIC);
/** Codes are packed and unpacked four at a time through Uint32Array views, which read in the machine's byte order. */
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------
// Layout checks and bounds

/** The wire layout of a model: its layout hash, the nominal 64×64 chunk and k, each tensor's chunking. */
export function wireLayoutOf(layout: TensorSpecs): WireLayout {
  return {
    layoutHash: layoutHash(layout),
    chunkRows: MAX_CHUNK_SIDE,
    chunkCols: MAX_CHUNK_SIDE,
    k: NOMINAL_K,
    tensors: layout.map(({ shape }) => {
      const { numChunks, chunkSize, k } = chunkGeometry(shape);
      return { numChunks, chunkSize, k };
    }),
  };
}

/** Throws (a plain RangeError: this is the caller's configuration, not a stranger's payload). */
function checkWireLayout(layout: WireLayout): void {
  if (!(layout.layoutHash instanceof Uint8Array) || layout.layoutHash.length !== HASH_BYTES) {
    throw new RangeError(`wire layout: layoutHash must be ${HASH_BYTES} bytes`);
  }
  for (const [name, value] of [
    ['chunkRows', layout.chunkRows],
    ['chunkCols', layout.chunkCols],
    ['k', layout.k],
  ] as const) {
    if (!Number.isInteger(value) || value < 1 || value > 0xffff)
      throw new RangeError(`wire layout: ${name} ${value} must be an integer in [1, 65535]`);
  }
  layout.tensors.forEach((t, i) => {
    if (!Number.isInteger(t.chunkSize) || t.chunkSize < 1 || t.chunkSize > MAX_CHUNK_SIZE) {
      throw new RangeError(`wire layout: tensor ${i} chunkSize ${t.chunkSize} must be an integer in [1, ${MAX_CHUNK_SIZE}]`);
    }
    if (!Number.isInteger(t.k) || t.k < 1 || t.k > t.chunkSize || t.k > 0xffff) {
      throw new RangeError(`wire layout: tensor ${i} k ${t.k} must be an integer in [1, chunkSize ${t.chunkSize}]`);
    }
    if (!Number.isInteger(t.numChunks) || t.numChunks < 1 || t.numChunks * t.k > 2 ** 31) {
      throw new RangeError(`wire layout: tensor ${i} numChunks ${t.numChunks} must be a positive integer with numChunks·k ≤ 2^31`);
    }
  });
}

function codeBytes(t: TensorChunking): number {
  return Math.ceil((t.numChunks * t.k) / 4);
}

/**
 * The longest valid payload for the layout, exactly: the longest run id, and per tensor its fixed
 * fields, the longest canonical index stream (rice.ts: longestIndexStreamBytes) and its codes. A
 * payload one byte longer is too-large.
 */
export function maxPayloadBytes(layout: WireLayout): number {
  let total = HEADER_FIXED_BYTES + MAX_RUN_ID_BYTES;
  for (const t of layout.tensors) total += TENSOR_FIXED_BYTES + longestIndexStreamBytes(t) + codeBytes(t);
  return total;
}

/**
 * Typed-array bytes a successful decode allocates: the two header hashes, and per tensor its
 * Uint16 indices, Uint8 codes and 4-entry f32 lookup. A rejected payload allocates none of it.
 */
export function decodedBytesBound(layout: WireLayout): number {
  let total = 2 * HASH_BYTES;
  for (const t of layout.tensors) total += 3 * t.numChunks * t.k + 16;
  return total;
}

// ---------------------------------------------------------------------------------------------
// The rules on quantization, which the encoder and the decoder both apply

const MIN_NORMAL_F32 = 2 ** -126;

/**
 * An f32 the compressor can produce: finite, and neither −0 nor subnormal (it flushes both to +0
 * with `ftz`), so each value it carries has one bit pattern.
 */
function checkCanonicalFloat(where: string, what: string, value: number): void {
  if (!Number.isFinite(value)) fail('bad-quantization', `${where}: ${what} ${value} is not finite`);
  if (Object.is(value, -0)) fail('bad-quantization', `${where}: ${what} is −0; the compressor writes +0`);
  if (value !== 0 && Math.abs(value) < MIN_NORMAL_F32)
    fail('bad-quantization', `${where}: ${what} ${value} is subnormal; the compressor flushes subnormals to +0`);
}

/** A canonical f32 within ±MAX_ABS_VALUE (an infinite shift is not canonical: bad-quantization, checked first). */
function checkShift(where: string, shift: number): void {
  checkCanonicalFloat(where, 'shift', shift);
  if (Math.abs(shift) > MAX_ABS_VALUE) fail('value-too-large', `${where}: shift ${shift} exceeds ±${MAX_ABS_VALUE}`);
}

function checkScale(where: string, scale: number): void {
  checkCanonicalFloat(where, 'scale', scale);
  if (scale !== 0 && (scale < MIN_ABS_SCALE || scale > MAX_ABS_SCALE)) {
    fail(
      'bad-quantization',
      `${where}: scale ${scale} is neither +0 nor inside [${MIN_ABS_SCALE}, ${MAX_ABS_SCALE}] (the compressor's scale is 1.5·std ≥ 0)`,
    );
  }
}

function checkLookup(where: string, lookup: ArrayLike<number>): void {
  for (let b = 0; b < 4; b++) checkCanonicalFloat(where, `lookup[${b}]`, lookup[b]!);
}

/** For each byte of packed codes, bit b set when one of its four codes is b. */
const BINS_OF_PACKED_BYTE = Uint8Array.from(
  { length: 256 },
  (_, byte) => (1 << (byte & 3)) | (1 << ((byte >>> 2) & 3)) | (1 << ((byte >>> 4) & 3)) | (1 << (byte >>> 6)),
);

/** Bit b set when one of the first n codes packed four to a byte at `at` is b. */
function binsUsedPacked(payload: Uint8Array, at: number, n: number): number {
  let used = 0;
  const wholeBytes = n >>> 2;
  for (let i = 0; i < wholeBytes && used !== 15; i++) used |= BINS_OF_PACKED_BYTE[payload[at + i]!]!;
  for (let j = wholeBytes * 4; j < n; j++) used |= 1 << ((payload[at + (j >>> 2)]! >>> ((j & 3) * 2)) & 3);
  return used;
}

/**
 * The rules that tie the quantization to the codes: with scale 0 every code is 2; then bin by bin,
 * 0 to 3, every value a bin in use decodes to is within ±MAX_ABS_VALUE, and a bin no entry uses
 * has lookup +0 (the compressor's value, and the only one, since nothing decodes through it).
 */
function checkBins(where: string, shift: number, scale: number, lookup: ArrayLike<number>, used: number): void {
  if (scale === 0 && used !== 1 << 2)
    fail('bad-codes', `${where}: scale is 0 but some code is not 2 (with scale 0 the compressor codes every entry 2)`);
  for (let b = 0; b < 4; b++) {
    if ((used >>> b) & 1) {
      const value = ftz(Math.fround(lookup[b]! + shift));
      if (Math.abs(value) > MAX_ABS_VALUE) fail('value-too-large', `${where}: code ${b} decodes to ${value}, beyond ±${MAX_ABS_VALUE}`);
    } else if (!Object.is(lookup[b], 0)) {
      fail('bad-quantization', `${where}: lookup[${b}] is ${lookup[b]} but no entry has code ${b}; an unused bin's lookup must be +0`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Encoder

/** The checks on a tensor that come before its indices: chunking, lengths, quantization. */
function checkTensorHeader(where: string, tensor: CompressedTensor, expected: TensorChunking): void {
  if (tensor.numChunks !== expected.numChunks || tensor.chunkSize !== expected.chunkSize || tensor.k !== expected.k) {
    fail(
      'layout-mismatch',
      `${where}: chunking ${tensor.numChunks}×${tensor.chunkSize} k=${tensor.k} differs from the layout's ` +
        `${expected.numChunks}×${expected.chunkSize} k=${expected.k}`,
    );
  }
  const n = expected.numChunks * expected.k;
  if (tensor.indices.length !== n) fail('bad-indices', `${where}: ${tensor.indices.length} indices, expected numChunks·k = ${n}`);
  if (tensor.codes.length !== n) fail('bad-codes', `${where}: ${tensor.codes.length} codes, expected numChunks·k = ${n}`);
  if (tensor.lookup.length !== 4) fail('bad-quantization', `${where}: lookup has ${tensor.lookup.length} entries, expected 4`);
  checkShift(where, Math.fround(tensor.shift));
  checkScale(where, Math.fround(tensor.scale));
  checkLookup(where, tensor.lookup);
}

/** The checks on a tensor that come after its indices: every code fits in 2 bits, and the bins' rules. */
function checkCodes(where: string, tensor: CompressedTensor): void {
  const { codes } = tensor;
  // Any byte above 3 sets a bit outside 0x03 of its byte: OR four codes at a time when aligned.
  let wide = 0;
  let j = 0;
  if (codes.byteOffset % 4 === 0) {
    const words = new Uint32Array(codes.buffer, codes.byteOffset, codes.length >>> 2);
    for (let w = 0; w < words.length; w++) wide |= words[w]!;
    j = words.length * 4;
  }
  for (; j < codes.length; j++) wide |= codes[j]!;
  if ((wide & 0xfcfcfcfc) !== 0) {
    const bad = codes.findIndex((code) => code > 3);
    fail('bad-codes', `${where}: code ${codes[bad]} at entry ${bad} does not fit in 2 bits`);
  }
  let used = 0;
  for (let e = 0; e < codes.length && used !== 15; e++) used |= 1 << codes[e]!;
  checkBins(where, Math.fround(tensor.shift), Math.fround(tensor.scale), tensor.lookup, used);
}

/** Packs the 2-bit codes four to a byte, the first in the low bits; the last byte's unused bits stay 0. */
function writeCodes(out: Uint8Array, start: number, codes: Uint8Array): void {
  const whole = codes.length & ~3;
  let at = start;
  let j = 0;
  if (LITTLE_ENDIAN && codes.byteOffset % 4 === 0) {
    // Four codes a load: code i of the word sits at bit 8i and moves to bit 2i.
    const words = new Uint32Array(codes.buffer, codes.byteOffset, whole >>> 2);
    for (let w = 0; w < words.length; w++) {
      const word = words[w]!;
      out[at++] = (word & 0x03) | ((word >>> 6) & 0x0c) | ((word >>> 12) & 0x30) | ((word >>> 18) & 0xc0);
    }
    j = whole;
  }
  for (; j < whole; j += 4) out[at++] = codes[j]! | (codes[j + 1]! << 2) | (codes[j + 2]! << 4) | (codes[j + 3]! << 6);
  let last = 0;
  for (let j = whole; j < codes.length; j++) last |= codes[j]! << ((j & 3) * 2);
  if (whole < codes.length) out[at] = last;
}

/** Encodes `update` for the wire after checking it against `layout` (CodecError if it breaks the format). */
export function encodeUpdate(origin: PayloadOrigin, update: CompressedUpdate, layout: WireLayout): Uint8Array {
  checkWireLayout(layout);
  const runIdBytes = utf8Encoder.encode(origin.runId);
  if (runIdBytes.length < 1 || runIdBytes.length > MAX_RUN_ID_BYTES) {
    fail('bad-run-id', `run id '${origin.runId}' is ${runIdBytes.length} UTF-8 bytes; it must be 1 to ${MAX_RUN_ID_BYTES}`);
  }
  if (utf8Decoder.decode(runIdBytes) !== origin.runId) {
    fail(
      'bad-run-id',
      `run id '${origin.runId}' holds a lone UTF-16 surrogate, which UTF-8 cannot carry: receivers would read another run id`,
    );
  }
  if (!Number.isInteger(origin.round) || origin.round < 0 || origin.round > 0xffffffff) {
    fail('bad-header', `round ${origin.round} must be an integer in [0, 2^32)`);
  }
  if (origin.baseModelHash.length !== HASH_BYTES)
    fail('bad-header', `base model hash is ${origin.baseModelHash.length} bytes, expected ${HASH_BYTES}`);
  if (update.tensors.length !== layout.tensors.length) {
    fail('layout-mismatch', `update has ${update.tensors.length} tensors, the layout ${layout.tensors.length}`);
  }
  // Each index stream is written while its indices are checked, with the parameter the geometry
  // suggests, into `streams` (zeroed, grown when short); rewritten in the rare case where the
  // sums show that another parameter is the canonical one. The payload is assembled after.
  let streams = new Uint8Array(layout.tensors.reduce((bytes, t) => bytes + maxIndexStreamBytes(t, riceParameterGuess(t)), 4));
  let streamsEnd = 0;
  const writeStream = (tensor: CompressedTensor, riceParameter: number, where: string) => {
    const room = streamsEnd + maxIndexStreamBytes(tensor, riceParameter) + 4;
    if (room > streams.length) {
      const grown = new Uint8Array(Math.max(room, 2 * streams.length));
      grown.set(streams.subarray(0, streamsEnd));
      streams = grown;
    }
    return writeIndexStream(streams, streamsEnd, tensor, riceParameter, where);
  };
  const plans = update.tensors.map((tensor, i) => {
    const where = `tensor ${i}`;
    const expected = layout.tensors[i]!;
    checkTensorHeader(where, tensor, expected);
    const n = expected.numChunks * expected.k;
    const guess = riceParameterGuess(expected);
    const [sumBelow, sum, sumAbove] = writeStream(tensor, guess, where);
    checkCodes(where, tensor);
    const known = new Map([
      [guess - 1, sumBelow],
      [guess, sum],
      [guess + 1, sumAbove],
    ]);
    const { riceParameter, bits } = canonicalRiceParameter(n, guess, (r) => known.get(r) ?? quotientSum(tensor, r));
    if (riceParameter !== guess) {
      streams.fill(0, streamsEnd, Math.min(streams.length, streamsEnd + Math.ceil((n * (guess + 1) + sum) / 8) + 4));
      writeStream(tensor, riceParameter, where);
    }
    const plan = { tensor, riceParameter, streamAt: streamsEnd, streamBytes: Math.ceil(bits / 8) };
    streamsEnd += plan.streamBytes;
    return plan;
  });

  let size = HEADER_FIXED_BYTES + runIdBytes.length;
  for (const p of plans) size += TENSOR_FIXED_BYTES + p.streamBytes + codeBytes(p.tensor);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out.set(MAGIC_BYTES, HEADER.magic.at);
  view.setUint16(HEADER.version.at, WIRE_VERSION, true);
  view.setUint16(HEADER.flags.at, 0, true);
  view.setUint32(HEADER.round.at, origin.round, true);
  out.set(origin.baseModelHash, HEADER.baseModelHash.at);
  out.set(layout.layoutHash, HEADER.layoutHash.at);
  view.setUint16(HEADER.chunkRows.at, layout.chunkRows, true);
  view.setUint16(HEADER.chunkCols.at, layout.chunkCols, true);
  view.setUint16(HEADER.k.at, layout.k, true);
  view.setUint32(HEADER.tensorCount.at, layout.tensors.length, true);
  out[HEADER.runIdLength.at] = runIdBytes.length;
  out.set(runIdBytes, HEADER_FIXED_BYTES);

  let offset = HEADER_FIXED_BYTES + runIdBytes.length;
  for (const { tensor, riceParameter, streamAt, streamBytes } of plans) {
    view.setUint32(offset + SECTION.numChunks.at, tensor.numChunks, true);
    view.setUint32(offset + SECTION.chunkSize.at, tensor.chunkSize, true);
    view.setUint16(offset + SECTION.k.at, tensor.k, true);
    out[offset + SECTION.riceParameter.at] = riceParameter;
    out[offset + SECTION.reserved.at] = 0;
    view.setFloat32(offset + SECTION.shift.at, tensor.shift, true);
    view.setFloat32(offset + SECTION.scale.at, tensor.scale, true);
    for (let b = 0; b < 4; b++) view.setFloat32(offset + SECTION.lookup.at + 4 * b, tensor.lookup[b]!, true);
    view.setUint32(offset + SECTION.streamBytes.at, streamBytes, true);
    offset += TENSOR_FIXED_BYTES;
    out.set(streams.subarray(streamAt, streamAt + streamBytes), offset);
    offset += streamBytes;
    writeCodes(out, offset, tensor.codes);
    offset += codeBytes(tensor);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Decoder

/** Checks that `bytes` bytes from `at` lie inside the payload: a field the payload ends inside is truncated. */
function need(payload: Uint8Array, at: number, bytes: number, what: string): void {
  if (at + bytes > payload.length)
    fail('truncated', `payload ends at byte ${payload.length} inside ${what} (bytes ${at}..${at + bytes - 1})`);
}

/** Where `field` of the header or section starting at `base` lies, once it is known to lie inside the payload. */
function fieldAt(payload: Uint8Array, base: number, field: WireField, where: string): number {
  need(payload, base + field.at, field.bytes, `${where}'s ${field.name}`);
  return base + field.at;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Byte b of packed codes as the four code bytes it unpacks to, read as a little-endian u32. */
const UNPACKED_CODES = Uint32Array.from(
  { length: 256 },
  (_, b) => ((b & 3) | (((b >>> 2) & 3) << 8) | (((b >>> 4) & 3) << 16) | ((b >>> 6) << 24)) >>> 0,
);

/** Unpacks codes.length 2-bit codes, four to a byte from `at`, the first in the low bits. */
function unpackCodes(payload: Uint8Array, at: number, codes: Uint8Array): void {
  let j = 0;
  if (LITTLE_ENDIAN && codes.byteOffset % 4 === 0) {
    // Four codes a store.
    const words = new Uint32Array(codes.buffer, codes.byteOffset, codes.length >>> 2);
    for (let w = 0; w < words.length; w++) words[w] = UNPACKED_CODES[payload[at + w]!]!;
    j = words.length * 4;
  }
  for (; j < codes.length; j++) codes[j] = (payload[at + (j >>> 2)]! >>> ((j & 3) * 2)) & 3;
}

/** What the checking pass keeps of a tensor section to build its CompressedTensor afterwards. */
interface CheckedSection {
  shift: number;
  scale: number;
  lookup: number[];
  /** Where its indices lie in the working buffer. */
  indicesAt: number;
  codesAt: number;
}

/**
 * Decodes and checks payloads for one layout. It owns the working buffer its checking pass decodes
 * the indices into (2 bytes an index of the layout, made on the first decode and kept), so a
 * caller that decodes many payloads of one layout holds one decoder. Checks run in the order
 * docs/PROTOCOL.md's "Order of checks" fixes: the payload's length, then every field in the order
 * it lies in the payload, each as soon as it is read; the first rule broken names the error.
 */
export class PayloadDecoder {
  /** The longest valid payload (maxPayloadBytes): anything longer is too-large before a byte is read. */
  readonly maxBytes: number;
  private readonly entries: number;
  private indices: Uint16Array | undefined;

  constructor(readonly layout: WireLayout) {
    checkWireLayout(layout);
    this.maxBytes = maxPayloadBytes(layout);
    this.entries = layout.tensors.reduce((total, t) => total + t.numChunks * t.k, 0);
  }

  /** Reads and checks just the header (cheap: for a commit check before a full decode). */
  readHeader(payload: Uint8Array, options: DecodeOptions = {}): PayloadHeader & { bodyAt: number } {
    const { layout } = this;
    if (payload.length > this.maxBytes)
      fail('too-large', `payload of ${payload.length} bytes exceeds the ${this.maxBytes} of the longest valid payload for this layout`);
    const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    const at = (field: WireField) => fieldAt(payload, 0, field, 'the header');
    const bytesOf = (field: WireField) => payload.subarray(at(field), field.at + field.bytes);

    const magic = bytesOf(HEADER.magic);
    if (!sameBytes(magic, MAGIC_BYTES))
      fail('bad-magic', `payload starts with ${bytesToHex(magic)}, not '${WIRE_MAGIC}' (574c434f): this is not a WebLoCo update`);
    const version = view.getUint16(at(HEADER.version), true);
    if (version !== WIRE_VERSION)
      fail('unsupported-version', `wire version ${version}; this build reads version ${WIRE_VERSION}: update the client`);
    const flags = view.getUint16(at(HEADER.flags), true);
    if (flags !== 0) fail('bad-reserved', `header flags ${flags} must be 0 in version ${WIRE_VERSION}`);
    const round = view.getUint32(at(HEADER.round), true);
    const baseModelHash = bytesOf(HEADER.baseModelHash);
    const layoutHash = bytesOf(HEADER.layoutHash);
    if (!sameBytes(layoutHash, layout.layoutHash)) {
      fail(
        'layout-mismatch',
        `layout hash ${bytesToHex(layoutHash)} differs from this model's ${bytesToHex(layout.layoutHash)}: the sender runs another model shape`,
      );
    }
    const chunkRows = view.getUint16(at(HEADER.chunkRows), true);
    if (chunkRows !== layout.chunkRows) fail('layout-mismatch', `chunk rows ${chunkRows}, the run's are ${layout.chunkRows}`);
    const chunkCols = view.getUint16(at(HEADER.chunkCols), true);
    if (chunkCols !== layout.chunkCols) fail('layout-mismatch', `chunk cols ${chunkCols}, the run's are ${layout.chunkCols}`);
    const k = view.getUint16(at(HEADER.k), true);
    if (k !== layout.k) fail('layout-mismatch', `k ${k}, the run's is ${layout.k}`);
    const tensorCount = view.getUint32(at(HEADER.tensorCount), true);
    if (tensorCount !== layout.tensors.length)
      fail('layout-mismatch', `payload has ${tensorCount} tensors, the layout ${layout.tensors.length}`);
    const runIdLength = payload[at(HEADER.runIdLength)]!;
    if (runIdLength < 1 || runIdLength > MAX_RUN_ID_BYTES)
      fail('bad-run-id', `run id length ${runIdLength} must be 1 to ${MAX_RUN_ID_BYTES}`);
    need(payload, HEADER_FIXED_BYTES, runIdLength, 'the run id');
    let runId: string;
    try {
      runId = utf8Decoder.decode(payload.subarray(HEADER_FIXED_BYTES, HEADER_FIXED_BYTES + runIdLength));
    } catch {
      fail('bad-run-id', 'run id is not valid UTF-8');
    }

    // The caller's expectations, once the header is known to be well formed.
    const expect = options.expect ?? {};
    if (expect.round !== undefined && expect.round !== round) fail('header-mismatch', `round ${round}, expected ${expect.round}`);
    if (expect.baseModelHash !== undefined && !sameBytes(expect.baseModelHash, baseModelHash)) {
      fail(
        'header-mismatch',
        `base model hash ${bytesToHex(baseModelHash)}, expected ${bytesToHex(expect.baseModelHash)}: the sender trained on another model`,
      );
    }
    if (expect.runId !== undefined && expect.runId !== runId) fail('header-mismatch', `run id '${runId}', expected '${expect.runId}'`);
    return { runId, round, baseModelHash, layoutHash, chunkRows, chunkCols, k, bodyAt: HEADER_FIXED_BYTES + runIdLength };
  }

  /**
   * Decodes a payload the layout admits, or throws CodecError. Allocates none of the decoded update
   * until the whole payload has been checked, then exactly `decodedBytesBound(layout)` bytes of
   * typed arrays.
   */
  decode(payload: Uint8Array, options: DecodeOptions = {}): DecodedPayload {
    const header = this.readHeader(payload, options);
    const indices = (this.indices ??= new Uint16Array(this.entries));
    const sections = this.checkSections(payload, header.bodyAt, indices);

    const allocate = (bytes: number) => options.onAllocate?.(bytes);
    allocate(2 * HASH_BYTES);
    const tensors = sections.map(({ shift, scale, lookup, indicesAt, codesAt }, i): CompressedTensor => {
      const { numChunks, chunkSize, k } = this.layout.tensors[i]!;
      const n = numChunks * k;
      const codes = new Uint8Array(n);
      unpackCodes(payload, codesAt, codes);
      return {
        numChunks,
        chunkSize,
        k,
        indices: indices.slice(indicesAt, indicesAt + n),
        codes,
        shift,
        scale,
        lookup: Float32Array.from(lookup),
      };
    });
    for (const t of tensors) allocate(t.indices.byteLength + t.codes.byteLength + t.lookup.byteLength);
    return {
      header: {
        runId: header.runId,
        round: header.round,
        baseModelHash: header.baseModelHash.slice(),
        layoutHash: header.layoutHash.slice(),
        chunkRows: header.chunkRows,
        chunkCols: header.chunkCols,
        k: header.k,
      },
      update: { tensors },
    };
  }

  /**
   * Reads and checks every tensor section, field by field, decoding the indices into `indices`
   * (the tensors' indices one after another). Allocates none of the decoded update.
   */
  private checkSections(payload: Uint8Array, bodyAt: number, indices: Uint16Array): CheckedSection[] {
    const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    const sections: CheckedSection[] = [];
    let offset = bodyAt;
    let indicesAt = 0;
    this.layout.tensors.forEach((t, i) => {
      const where = `tensor ${i}`;
      const at = (field: WireField) => fieldAt(payload, offset, field, where);
      const numChunks = view.getUint32(at(SECTION.numChunks), true);
      if (numChunks !== t.numChunks) fail('layout-mismatch', `${where}: numChunks ${numChunks}, the layout's is ${t.numChunks}`);
      const chunkSize = view.getUint32(at(SECTION.chunkSize), true);
      if (chunkSize !== t.chunkSize) fail('layout-mismatch', `${where}: chunkSize ${chunkSize}, the layout's is ${t.chunkSize}`);
      const k = view.getUint16(at(SECTION.k), true);
      if (k !== t.k) fail('layout-mismatch', `${where}: k ${k}, the layout's is ${t.k}`);
      const riceParameter = payload[at(SECTION.riceParameter)]!;
      if (riceParameter > MAX_RICE_PARAMETER)
        fail('bad-rice-parameter', `${where}: Rice parameter ${riceParameter} > ${MAX_RICE_PARAMETER}`);
      const reserved = payload[at(SECTION.reserved)]!;
      if (reserved !== 0) fail('bad-reserved', `${where}: reserved byte is ${reserved}, must be 0`);
      const shift = view.getFloat32(at(SECTION.shift), true);
      checkShift(where, shift);
      const scale = view.getFloat32(at(SECTION.scale), true);
      checkScale(where, scale);
      const lookupAt = at(SECTION.lookup);
      const lookup = [0, 1, 2, 3].map((b) => view.getFloat32(lookupAt + 4 * b, true));
      checkLookup(where, lookup);
      const streamBytes = view.getUint32(at(SECTION.streamBytes), true);
      const streamBound = maxIndexStreamBytes(t, riceParameter);
      if (streamBytes > streamBound)
        fail('bad-index-stream', `${where}: index stream of ${streamBytes} bytes exceeds the ${streamBound} a valid one can take`);

      const streamAt = offset + TENSOR_FIXED_BYTES;
      const n = numChunks * k;
      need(payload, streamAt, streamBytes, `${where}'s index stream`);
      readIndexStream(payload, view, streamAt, streamBytes, t, riceParameter, where, indices.subarray(indicesAt, indicesAt + n));

      const codesAt = streamAt + streamBytes;
      const packedBytes = codeBytes(t);
      need(payload, codesAt, packedBytes, `${where}'s codes`);
      if (n % 4 !== 0 && payload[codesAt + packedBytes - 1]! >>> ((n % 4) * 2) !== 0) {
        fail('bad-padding', `${where}: the unused bits of the last code byte are set`);
      }
      checkBins(where, shift, scale, lookup, binsUsedPacked(payload, codesAt, n));
      sections.push({ shift, scale, lookup, indicesAt, codesAt });
      indicesAt += n;
      offset = codesAt + packedBytes;
    });
    if (offset !== payload.length) fail('trailing-bytes', `${payload.length - offset} bytes follow the last tensor`);
    return sections;
  }
}

/** Reads and checks just the header of one payload (a decoder for one call). */
export function readPayloadHeader(
  payload: Uint8Array,
  layout: WireLayout,
  options: DecodeOptions = {},
): PayloadHeader & { bodyAt: number } {
  return new PayloadDecoder(layout).readHeader(payload, options);
}

/**
 * Decodes one payload with a decoder of its own, whose working buffer (2 bytes an index) is made
 * for this call; decoding many payloads of one layout, hold a PayloadDecoder instead.
 */
export function decodeUpdate(payload: Uint8Array, layout: WireLayout, options: DecodeOptions = {}): DecodedPayload {
  return new PayloadDecoder(layout).decode(payload, options);
}
