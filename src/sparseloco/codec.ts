// SparseLoCo's wire format: one peer's CompressedUpdate as bytes, and back. The in-chunk indices
// are Golomb-Rice coded as gaps (≈ 7.5 bits an index at k = 64 of 4096, at most 8), the 2-bit
// codes are packed four to a byte, so a chunk costs ≈ 480 + 128 bits against 131072 dense:
// about 212× smaller than fp32 (measured in test/sparseloco/codec.test.ts). docs/PROTOCOL.md
// gives the layout byte by byte and says why Rice coding was chosen over enumerative coding.
//
// Payloads come from strangers. The decoder is given the layout it expects, checks the whole
// payload before allocating anything (one pass that walks every field, decoding the indices into
// a working buffer sized by the layout and kept between calls), allocates exactly what the layout
// says a valid payload needs, and reports every defect as a CodecError with a machine-readable code.
//
// Both directions make one pass over the bits, a 32-bit word per index: base's 2.3 MB payload
// (1.95M indices) encodes and decodes in tens of milliseconds (docs/BENCHMARKS.md).
//
// The encoding is canonical: every choice the format leaves open (the Rice parameter, padding,
// the lookup value of a bin no entry uses, ±0 and subnormal floats) is fixed by a rule, and the
// decoder accepts a payload only if encodeUpdate(decodeUpdate(payload)) gives back the same
// bytes. So equal updates have equal bytes and a payload's hash names one update. The encoder
// refuses whatever the decoder would reject, so an honest peer never publishes a payload that
// the swarm drops.
import { MAX_CHUNK_SIDE, NOMINAL_K, chunkGeometry } from './chunking.ts';
import { ftz } from './compress.ts';
import { layoutHash } from '../model/hash.ts';
import type { CompressedTensor, CompressedUpdate, TensorSpecs, PayloadHeader, TensorChunking, WireLayout } from './types.ts';

export const WIRE_MAGIC = 'WLCO';
export const WIRE_VERSION = 1;
/** Bytes before the run id: magic, version, flags, round, two hashes, chunk shape, k, tensor count. */
export const HEADER_FIXED_BYTES = 87;
/** Bytes per tensor before its index stream: geometry, Rice parameter, quantization, stream length. */
export const TENSOR_FIXED_BYTES = 40;
export const MAX_RUN_ID_BYTES = 64;
export const HASH_BYTES = 32;
/**
 * Quantization scales outside this range are rejected (the Gauntlet's sanity rule), except exactly
 * +0: the compressor's output when every selected value of a tensor is equal (all codes 2, each
 * decoding to the shift), which Adam's first steps produce on norm gains. The compressor's scale
 * is 1.5·std, never negative.
 */
export const MIN_ABS_SCALE = 1e-12;
export const MAX_ABS_SCALE = 1e4;
/**
 * The largest magnitude of a shift or of a value a payload decodes to (lookup[code] + shift for
 * every code it uses). The Templar reference skips a peer whose dequantized values exceed 1e3;
 * here such a payload is not a valid payload at all (VALUE_TOO_LARGE), and the encoder refuses it.
 */
export const MAX_ABS_VALUE = 1e3;
/** Indices travel as Uint16, so a chunk holds at most 65536 elements and gaps need ≤ 15 remainder bits. */
export const MAX_CHUNK_SIZE = 65536;
export const MAX_RICE_PARAMETER = 15;

export type CodecErrorCode =
  | 'TRUNCATED' // the payload ends inside a field
  | 'TOO_LARGE' // longer than any valid payload for the expected layout
  | 'BAD_MAGIC'
  | 'UNSUPPORTED_VERSION'
  | 'BAD_RESERVED' // a reserved field is not zero
  | 'BAD_RUN_ID' // empty, longer than 64 bytes, or not UTF-8
  | 'BAD_HEADER' // a header field the encoder was given is out of range
  | 'LAYOUT_MISMATCH' // layout hash, chunk shape, k, tensor count or a tensor's geometry differs
  | 'HEADER_MISMATCH' // run id, round or base model hash differs from the expected one
  | 'BAD_RICE_PARAMETER' // above 15, or not the canonical one (the shortest stream, the smallest on a tie)
  | 'BAD_QUANTIZATION' // shift, scale or lookup not finite, −0 or subnormal; scale negative or outside {0} ∪ [1e-12, 1e4]; an unused bin's lookup not +0
  | 'VALUE_TOO_LARGE' // |shift| or a decoded value |lookup[code] + shift| above 1e3
  | 'BAD_INDEX_STREAM' // the index stream is shorter or longer than its contents
  | 'INDEX_OUT_OF_RANGE' // an index at or past the chunk size
  | 'BAD_INDICES' // (encoder) indices not strictly ascending within a chunk, or wrong count
  | 'BAD_CODES' // (encoder) a code above 3, or wrong count; (both) scale 0 with a code other than 2
  | 'BAD_PADDING' // the bits after the last index or code are not zero
  | 'TRAILING_BYTES';

/** A payload (or an update handed to the encoder) that breaks the wire format. */
export class CodecError extends Error {
  override name = 'CodecError';
  constructor(
    readonly code: CodecErrorCode,
    detail: string,
  ) {
    super(`${code}: ${detail}`);
  }
}

/** Fields of the header that the encoder takes from the caller; the rest come from the layout. */
export interface PayloadOrigin {
  runId: string;
  round: number;
  baseModelHash: Uint8Array;
}

export interface DecodeOptions {
  /** Reject payloads whose header disagrees with these (HEADER_MISMATCH). */
  expect?: Partial<PayloadOrigin>;
  /** Called with the byte size of every typed array the decoder allocates (tests check the bound). */
  onAllocate?: (bytes: number) => void;
}

export interface DecodedPayload {
  header: PayloadHeader;
  update: CompressedUpdate;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

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
export function checkWireLayout(layout: WireLayout): void {
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

/** Most bits a valid index stream can take: every gap's quotient is at most what the chunk leaves. */
function maxIndexStreamBytes(t: TensorChunking, riceParameter: number): number {
  const bitsPerChunk = t.k * (riceParameter + 1) + Math.floor((t.chunkSize - t.k) / 2 ** riceParameter);
  return Math.ceil((t.numChunks * bitsPerChunk) / 8);
}

function codeBytes(t: TensorChunking): number {
  return Math.ceil((t.numChunks * t.k) / 4);
}

/** The longest payload the layout admits (any Rice parameter, the longest run id). */
export function maxPayloadBytes(layout: WireLayout): number {
  let total = HEADER_FIXED_BYTES + MAX_RUN_ID_BYTES;
  for (const t of layout.tensors) {
    let worstStream = 0;
    for (let r = 0; r <= MAX_RICE_PARAMETER; r++) worstStream = Math.max(worstStream, maxIndexStreamBytes(t, r));
    total += TENSOR_FIXED_BYTES + worstStream + codeBytes(t);
  }
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
// Encoder

/**
 * Bits that the index-stream writer and reader handle in one 32-bit word: a word at the byte
 * holding bit p has 32 − (p mod 8) ≥ 25 bits from p on. One gap's code (unary run, terminator,
 * remainder) that fits in 25 bits is written or read at once; a longer one goes bit by bit.
 */
const FAST_WINDOW_BITS = 25;
const FAST_WINDOW_MASK = 2 ** FAST_WINDOW_BITS - 1;
/** Codes are packed and unpacked four at a time through Uint32Array views, which read in the machine's byte order. */
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

function fail(code: CodecErrorCode, detail: string): never {
  throw new CodecError(code, detail);
}

const MIN_NORMAL_F32 = 2 ** -126;

/**
 * An f32 the compressor can produce: finite, and neither −0 nor subnormal (it flushes both to +0
 * with `ftz`), so each value it carries has one bit pattern.
 */
function checkCanonicalFloat(where: string, what: string, value: number): void {
  if (!Number.isFinite(value)) fail('BAD_QUANTIZATION', `${where}: ${what} ${value} is not finite`);
  if (Object.is(value, -0)) fail('BAD_QUANTIZATION', `${where}: ${what} is −0; the compressor writes +0`);
  if (value !== 0 && Math.abs(value) < MIN_NORMAL_F32)
    fail('BAD_QUANTIZATION', `${where}: ${what} ${value} is subnormal; the compressor flushes subnormals to +0`);
}

/** The rules on shift, scale and lookup that do not depend on the codes. */
function checkQuantization(where: string, shift: number, scale: number, lookup: ArrayLike<number>): void {
  checkCanonicalFloat(where, 'shift', shift);
  if (Math.abs(shift) > MAX_ABS_VALUE) fail('VALUE_TOO_LARGE', `${where}: shift ${shift} exceeds ±${MAX_ABS_VALUE}`);
  checkCanonicalFloat(where, 'scale', scale);
  if (scale !== 0 && (scale < MIN_ABS_SCALE || scale > MAX_ABS_SCALE)) {
    fail(
      'BAD_QUANTIZATION',
      `${where}: scale ${scale} is neither +0 nor inside [${MIN_ABS_SCALE}, ${MAX_ABS_SCALE}] (the compressor's scale is 1.5·std ≥ 0)`,
    );
  }
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
 * The rules that tie the quantization to the codes: with scale 0 every code is 2; a bin no entry
 * uses has lookup +0 (the compressor's value, and the only one, since nothing decodes through it);
 * every value the tensor decodes to is within ±MAX_ABS_VALUE.
 */
function checkBins(where: string, shift: number, scale: number, lookup: ArrayLike<number>, used: number): void {
  if (scale === 0 && used !== 1 << 2)
    fail('BAD_CODES', `${where}: scale is 0 but some code is not 2 (with scale 0 the compressor codes every entry 2)`);
  for (let b = 0; b < 4; b++) {
    if ((used >>> b) & 1) {
      const value = ftz(Math.fround(lookup[b]! + shift));
      if (Math.abs(value) > MAX_ABS_VALUE) fail('VALUE_TOO_LARGE', `${where}: code ${b} decodes to ${value}, beyond ±${MAX_ABS_VALUE}`);
    } else if (!Object.is(lookup[b], 0)) {
      fail('BAD_QUANTIZATION', `${where}: lookup[${b}] is ${lookup[b]} but no entry has code ${b}; an unused bin's lookup must be +0`);
    }
  }
}

/** The checks on a tensor that come before its indices: chunking, lengths, quantization. */
function checkTensorHeader(where: string, tensor: CompressedTensor, expected: TensorChunking): void {
  if (tensor.numChunks !== expected.numChunks || tensor.chunkSize !== expected.chunkSize || tensor.k !== expected.k) {
    fail(
      'LAYOUT_MISMATCH',
      `${where}: chunking ${tensor.numChunks}×${tensor.chunkSize} k=${tensor.k} differs from the layout's ` +
        `${expected.numChunks}×${expected.chunkSize} k=${expected.k}`,
    );
  }
  const n = expected.numChunks * expected.k;
  if (tensor.indices.length !== n) fail('BAD_INDICES', `${where}: ${tensor.indices.length} indices, expected numChunks·k = ${n}`);
  if (tensor.codes.length !== n) fail('BAD_CODES', `${where}: ${tensor.codes.length} codes, expected numChunks·k = ${n}`);
  if (tensor.lookup.length !== 4) fail('BAD_QUANTIZATION', `${where}: lookup has ${tensor.lookup.length} entries, expected 4`);
  checkQuantization(where, Math.fround(tensor.shift), Math.fround(tensor.scale), tensor.lookup);
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
    fail('BAD_CODES', `${where}: code ${codes[bad]} at entry ${bad} does not fit in 2 bits`);
  }
  let used = 0;
  for (let e = 0; e < codes.length && used !== 15; e++) used |= 1 << codes[e]!;
  checkBins(where, Math.fround(tensor.shift), Math.fround(tensor.scale), tensor.lookup, used);
}

/**
 * Where the search for the canonical Rice parameter starts: the Rice-optimal parameter for
 * geometric gaps of the chunk's mean gap, ⌊log2(1 + mean·ln 2)⌋. Any start gives the same answer
 * (see canonicalRiceParameter); a good one saves passes over the indices.
 */
function riceParameterGuess(t: TensorChunking): number {
  const meanGap = (t.chunkSize - t.k) / t.k;
  return Math.min(MAX_RICE_PARAMETER, Math.max(0, Math.floor(Math.log2(1 + meanGap * Math.LN2))));
}

/** Σ (g >> r) over the tensor's gaps g: the unary bits of its Rice stream at parameter r. */
function quotientSum(tensor: CompressedTensor, r: number): number {
  const { indices, numChunks, k } = tensor;
  let sum = 0;
  for (let c = 0, j = 0; c < numChunks; c++) {
    let prev = -1;
    for (const end = j + k; j < end; j++) {
      const index = indices[j]!;
      sum += (index - prev - 1) >>> r;
      prev = index;
    }
  }
  return sum;
}

/**
 * The smallest r minimising bits(r) = n·(r+1) + Σ (g >> r), found by walking downhill from
 * `guess`: bits is convex in r (walkIndexStream says why), so a local minimum is the global one,
 * and walking down while bits(r−1) ≤ bits(r) lands on the smallest of a tied minimum.
 */
function canonicalRiceParameter(n: number, guess: number, sumAt: (r: number) => number): { riceParameter: number; bits: number } {
  const bitsAt = (r: number) => n * (r + 1) + sumAt(r);
  let r = guess;
  let bits = bitsAt(r);
  if (r > 0 && bitsAt(r - 1) <= bits) {
    do bits = bitsAt(--r);
    while (r > 0 && bitsAt(r - 1) <= bits);
  } else {
    while (r < MAX_RICE_PARAMETER && bitsAt(r + 1) < bits) bits = bitsAt(++r);
  }
  return { riceParameter: r, bits };
}

/**
 * The canonical Rice parameter: the one with the shortest stream for these indices (the smallest
 * on a tie), and its bit count. The only one the decoder accepts.
 */
export function bestRiceParameter(tensor: CompressedTensor): { riceParameter: number; bits: number } {
  const sums = new Map<number, number>();
  const sumAt = (r: number) => {
    if (!sums.has(r)) sums.set(r, quotientSum(tensor, r));
    return sums.get(r)!;
  };
  return canonicalRiceParameter(tensor.indices.length, riceParameterGuess(tensor), sumAt);
}

/**
 * Checks the tensor's indices (each inside its chunk, strictly ascending within it) while writing
 * them from byte `start` of `out` (zero from there on) as a Rice stream with parameter r: each
 * gap its quotient in unary (that many 1 bits, then a 0) and its low r bits, least significant
 * bit first. Returns Σ (g >> s) over the gaps for s = r − 1, r, r + 1: whether r is the canonical
 * parameter follows from them (canonicalRiceParameter).
 *
 * A gap's ≤ 25 bits go out in one 32-bit store at the byte holding its first bit, merged with
 * that byte's earlier bits, kept in `partial` rather than read back (loading a word just stored at
 * an overlapping address stalls). A longer gap, or one at the end of `out`, goes bit by bit.
 */
function writeIndexStream(
  out: Uint8Array,
  start: number,
  tensor: CompressedTensor,
  riceParameter: number,
  where: string,
): [number, number, number] {
  const { indices, numChunks, chunkSize, k } = tensor;
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const r = riceParameter;
  const remainderMask = (1 << r) - 1;
  const lastWordBit = (out.length - 4) * 8;
  let sumBelow = 0; // r = 0: meaningless, and unused
  let sum = 0;
  let sumAbove = 0;
  let bit = start * 8;
  let partial = 0; // the bits of byte bit >>> 3 below bit & 7
  for (let c = 0, j = 0; c < numChunks; c++) {
    let prev = -1;
    for (const end = j + k; j < end; j++) {
      const index = indices[j]!;
      if (index >= chunkSize) fail('INDEX_OUT_OF_RANGE', `${where} chunk ${c}: index ${index} ≥ chunk size ${chunkSize}`);
      if (index <= prev) fail('BAD_INDICES', `${where} chunk ${c}: index ${index} after ${prev}; indices must be strictly ascending`);
      const gap = index - prev - 1;
      prev = index;
      const quotient = gap >>> r;
      sumBelow += gap >>> (r - 1);
      sum += quotient;
      sumAbove += quotient >>> 1;
      const length = quotient + 1 + r;
      if (length <= FAST_WINDOW_BITS && bit <= lastWordBit) {
        const at = bit >>> 3;
        const word = partial | ((((gap & remainderMask) << (quotient + 1)) | ((1 << quotient) - 1)) << (bit & 7));
        view.setUint32(at, word, true);
        bit += length;
        // The new first byte's bits so far (none when the gap ended on a byte boundary, maybe 4 bytes on).
        partial = (word >>> (((bit >>> 3) - at) * 8)) & ((1 << (bit & 7)) - 1);
      } else {
        out[bit >>> 3] = partial;
        for (let q = 0; q < quotient; q++, bit++) out[bit >>> 3]! |= 1 << (bit & 7);
        bit++; // the unary terminator is a zero bit
        for (let b = 0; b < r; b++, bit++) out[bit >>> 3]! |= ((gap >>> b) & 1) << (bit & 7);
        partial = out[bit >>> 3] ?? 0;
      }
    }
  }
  if (bit & 7) out[bit >>> 3] = partial;
  return [sumBelow, sum, sumAbove];
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
    fail('BAD_RUN_ID', `run id '${origin.runId}' is ${runIdBytes.length} UTF-8 bytes; it must be 1 to ${MAX_RUN_ID_BYTES}`);
  }
  if (utf8Decoder.decode(runIdBytes) !== origin.runId) {
    fail(
      'BAD_RUN_ID',
      `run id '${origin.runId}' holds a lone UTF-16 surrogate, which UTF-8 cannot carry: receivers would read another run id`,
    );
  }
  if (!Number.isInteger(origin.round) || origin.round < 0 || origin.round > 0xffffffff) {
    fail('BAD_HEADER', `round ${origin.round} must be an integer in [0, 2^32)`);
  }
  if (origin.baseModelHash.length !== HASH_BYTES)
    fail('BAD_HEADER', `base model hash is ${origin.baseModelHash.length} bytes, expected ${HASH_BYTES}`);
  if (update.tensors.length !== layout.tensors.length) {
    fail('LAYOUT_MISMATCH', `update has ${update.tensors.length} tensors, the layout ${layout.tensors.length}`);
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
  out.set(utf8Encoder.encode(WIRE_MAGIC), 0);
  view.setUint16(4, WIRE_VERSION, true);
  view.setUint16(6, 0, true);
  view.setUint32(8, origin.round, true);
  out.set(origin.baseModelHash, 12);
  out.set(layout.layoutHash, 44);
  view.setUint16(76, layout.chunkRows, true);
  view.setUint16(78, layout.chunkCols, true);
  view.setUint16(80, layout.k, true);
  view.setUint32(82, layout.tensors.length, true);
  out[86] = runIdBytes.length;
  out.set(runIdBytes, HEADER_FIXED_BYTES);

  let offset = HEADER_FIXED_BYTES + runIdBytes.length;
  for (const { tensor, riceParameter, streamAt, streamBytes } of plans) {
    view.setUint32(offset, tensor.numChunks, true);
    view.setUint32(offset + 4, tensor.chunkSize, true);
    view.setUint16(offset + 8, tensor.k, true);
    out[offset + 10] = riceParameter;
    out[offset + 11] = 0;
    view.setFloat32(offset + 12, tensor.shift, true);
    view.setFloat32(offset + 16, tensor.scale, true);
    for (let b = 0; b < 4; b++) view.setFloat32(offset + 20 + 4 * b, tensor.lookup[b]!, true);
    view.setUint32(offset + 36, streamBytes, true);
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

function need(payload: Uint8Array, offset: number, bytes: number, what: string): void {
  if (offset + bytes > payload.length)
    fail('TRUNCATED', `payload ends at byte ${payload.length} inside ${what} (bytes ${offset}..${offset + bytes - 1})`);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

interface ParsedHeader {
  round: number;
  runId: string;
  baseModelHashAt: number;
  layoutHashAt: number;
  chunkRows: number;
  chunkCols: number;
  k: number;
  tensorCount: number;
  bodyAt: number;
}

function parseHeader(payload: Uint8Array, view: DataView): ParsedHeader {
  need(payload, 0, 4, 'the magic');
  if (payload[0] !== 0x57 || payload[1] !== 0x4c || payload[2] !== 0x43 || payload[3] !== 0x4f) {
    fail('BAD_MAGIC', `payload starts with ${hex(payload.subarray(0, 4))}, not 'WLCO' (574c434f): this is not a WebLoCo update`);
  }
  need(payload, 4, 2, 'the version');
  const version = view.getUint16(4, true);
  if (version !== WIRE_VERSION)
    fail('UNSUPPORTED_VERSION', `wire version ${version}; this build reads version ${WIRE_VERSION}: update the client`);
  need(payload, 0, HEADER_FIXED_BYTES, 'the header');
  const flags = view.getUint16(6, true);
  if (flags !== 0) fail('BAD_RESERVED', `header flags ${flags} must be 0 in version ${WIRE_VERSION}`);
  const runIdLength = payload[86]!;
  if (runIdLength < 1 || runIdLength > MAX_RUN_ID_BYTES)
    fail('BAD_RUN_ID', `run id length ${runIdLength} must be 1 to ${MAX_RUN_ID_BYTES}`);
  need(payload, HEADER_FIXED_BYTES, runIdLength, 'the run id');
  let runId: string;
  try {
    runId = utf8Decoder.decode(payload.subarray(HEADER_FIXED_BYTES, HEADER_FIXED_BYTES + runIdLength));
  } catch {
    fail('BAD_RUN_ID', 'run id is not valid UTF-8');
  }
  return {
    round: view.getUint32(8, true),
    runId,
    baseModelHashAt: 12,
    layoutHashAt: 44,
    chunkRows: view.getUint16(76, true),
    chunkCols: view.getUint16(78, true),
    k: view.getUint16(80, true),
    tensorCount: view.getUint32(82, true),
    bodyAt: HEADER_FIXED_BYTES + runIdLength,
  };
}

/**
 * Walks one tensor's Rice-coded index stream, checking every index, and writes them to `out`
 * (numChunks·k entries). Gap coding cannot express a duplicate or a descending index, so range,
 * exact length, zero padding and the canonical Rice parameter are what is left to check.
 *
 * The canonical parameter minimises bits(r) = n·(r+1) + Σ (g >> r) over the gaps g. bits is
 * convex in r: bits(r+1) − bits(r) = n − Σ ⌈(g >> r) / 2⌉, and ⌈(g >> r)/2⌉ does not grow with r.
 * So r is the canonical choice exactly when bits(r−1) > bits(r) ≤ bits(r+1), and the two
 * neighbours' sums come from this stream's quotients q = g >> r: Σ (g >> (r+1)) = Σ ⌊q/2⌋ and
 * Σ (g >> (r−1)) = Σ 2q + (the remainders' top bits).
 */
function walkIndexStream(
  payload: Uint8Array,
  view: DataView,
  start: number,
  streamBytes: number,
  t: TensorChunking,
  riceParameter: number,
  where: string,
  out: Uint16Array,
): void {
  const { numChunks, chunkSize, k } = t;
  const r = riceParameter;
  const remainderMask = (1 << r) - 1;
  const endBit = (start + streamBytes) * 8;
  // While 32 bits can be read at `bit` and 25 of them lie in the stream, an index whose unary
  // run, terminator and remainder fit in those 25 bits is read from one little-endian word.
  const fastBitLimit = Math.min(endBit - FAST_WINDOW_BITS, payload.length * 8 - 32);
  let quotientSum = 0;
  let halfQuotientSum = 0;
  let topRemainderBits = 0;
  let bit = start * 8;
  for (let c = 0, j = 0; c < numChunks; c++) {
    let prev = -1;
    for (const end = j + k; j < end; j++) {
      // The largest gap that keeps this index inside the chunk bounds the unary run, so a long
      // run of one-bits is rejected as soon as it is too long, not at the end of the stream:
      // the (maxQuotient + 1)-th one-bit (the first, when no gap fits) is out of range.
      const maxQuotient = (chunkSize - 2 - prev) >> r;
      let quotient = 0;
      let remainder = 0;
      const window = bit <= fastBitLimit ? (view.getUint32(bit >>> 3, true) >>> (bit & 7)) & FAST_WINDOW_MASK : FAST_WINDOW_MASK;
      // The window's trailing one-bits: the position of its lowest zero bit (bit 25 at most).
      const ones = 31 - Math.clz32(~window & (window + 1));
      if (ones + 1 + r <= FAST_WINDOW_BITS) {
        quotient = ones;
        // As the bit-by-bit loop below: only a one-bit can run past the chunk (with no ones, a
        // too-large index is caught after its remainder).
        if (quotient > maxQuotient && quotient > 0)
          fail('INDEX_OUT_OF_RANGE', `${where} chunk ${c}: index ${j - c * k} runs past chunk size ${chunkSize}`);
        remainder = (window >>> (ones + 1)) & remainderMask;
        bit += ones + 1 + r;
      } else {
        // A long run, or the stream's last bits: one bit at a time.
        for (;;) {
          if (bit >= endBit) fail('BAD_INDEX_STREAM', `${where}: index stream ends inside index ${j} (chunk ${c})`);
          const b = (payload[bit >>> 3]! >>> (bit & 7)) & 1;
          bit++;
          if (b === 0) break;
          if (++quotient > maxQuotient)
            fail('INDEX_OUT_OF_RANGE', `${where} chunk ${c}: index ${j - c * k} runs past chunk size ${chunkSize}`);
        }
        if (bit + r > endBit) fail('BAD_INDEX_STREAM', `${where}: index stream ends inside index ${j} (chunk ${c})`);
        for (let b = 0; b < r; b++, bit++) remainder |= ((payload[bit >>> 3]! >>> (bit & 7)) & 1) << b;
      }
      quotientSum += quotient;
      halfQuotientSum += quotient >>> 1;
      topRemainderBits += remainder >>> (r - 1); // r = 0: remainder is 0
      const index = prev + 1 + (quotient << r) + remainder;
      if (index >= chunkSize) fail('INDEX_OUT_OF_RANGE', `${where} chunk ${c}: index ${index} ≥ chunk size ${chunkSize}`);
      out[j] = index;
      prev = index;
    }
  }
  const usedBytes = Math.ceil(bit / 8) - start;
  if (usedBytes !== streamBytes)
    fail('BAD_INDEX_STREAM', `${where}: index stream declares ${streamBytes} bytes but its indices end after ${usedBytes}`);
  for (; bit < endBit; bit++) {
    if ((payload[bit >>> 3]! >>> (bit & 7)) & 1) fail('BAD_PADDING', `${where}: index stream padding bit ${bit - start * 8} is set`);
  }
  const n = numChunks * k;
  const bits = n * (r + 1) + quotientSum;
  const bitsBelow = r > 0 ? n * r + 2 * quotientSum + topRemainderBits : Infinity;
  const bitsAbove = r < MAX_RICE_PARAMETER ? n * (r + 2) + halfQuotientSum : Infinity;
  if (bitsBelow <= bits || bitsAbove < bits) {
    const [better, betterBits] = bitsBelow <= bits ? [r - 1, bitsBelow] : [r + 1, bitsAbove];
    fail(
      'BAD_RICE_PARAMETER',
      `${where}: Rice parameter ${r} codes the indices in ${bits} bits, parameter ${better} in ${betterBits}; ` +
        'the canonical parameter gives the shortest stream (the smallest on a tie)',
    );
  }
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
 * Walks and checks every tensor section, decoding the indices into `indices` (the working buffer:
 * the tensors' indices one after another). Allocates none of the decoded update.
 */
function walkTensors(payload: Uint8Array, view: DataView, bodyAt: number, layout: WireLayout, indices: Uint16Array): CheckedSection[] {
  const sections: CheckedSection[] = [];
  let offset = bodyAt;
  let indicesAt = 0;
  layout.tensors.forEach((t, i) => {
    const where = `tensor ${i}`;
    need(payload, offset, TENSOR_FIXED_BYTES, `${where}'s header`);
    const numChunks = view.getUint32(offset, true);
    const chunkSize = view.getUint32(offset + 4, true);
    const k = view.getUint16(offset + 8, true);
    if (numChunks !== t.numChunks || chunkSize !== t.chunkSize || k !== t.k) {
      fail('LAYOUT_MISMATCH', `${where}: chunking ${numChunks}×${chunkSize} k=${k}, expected ${t.numChunks}×${t.chunkSize} k=${t.k}`);
    }
    const riceParameter = payload[offset + 10]!;
    if (riceParameter > MAX_RICE_PARAMETER) fail('BAD_RICE_PARAMETER', `${where}: Rice parameter ${riceParameter} > ${MAX_RICE_PARAMETER}`);
    if (payload[offset + 11] !== 0) fail('BAD_RESERVED', `${where}: reserved byte is ${payload[offset + 11]}, must be 0`);
    const shift = view.getFloat32(offset + 12, true);
    const scale = view.getFloat32(offset + 16, true);
    const lookup = [0, 1, 2, 3].map((b) => view.getFloat32(offset + 20 + 4 * b, true));
    checkQuantization(where, shift, scale, lookup);
    const streamBytes = view.getUint32(offset + 36, true);
    const streamBound = maxIndexStreamBytes(t, riceParameter);
    if (streamBytes > streamBound)
      fail('BAD_INDEX_STREAM', `${where}: index stream of ${streamBytes} bytes exceeds the ${streamBound} a valid one can take`);
    offset += TENSOR_FIXED_BYTES;
    need(payload, offset, streamBytes, `${where}'s index stream`);
    walkIndexStream(payload, view, offset, streamBytes, t, riceParameter, where, indices.subarray(indicesAt, indicesAt + numChunks * k));
    offset += streamBytes;

    const n = numChunks * k;
    const packedBytes = codeBytes(t);
    need(payload, offset, packedBytes, `${where}'s codes`);
    if (n % 4 !== 0 && payload[offset + packedBytes - 1]! >>> ((n % 4) * 2) !== 0) {
      fail('BAD_PADDING', `${where}: the unused bits of the last code byte are set`);
    }
    checkBins(where, shift, scale, lookup, binsUsedPacked(payload, offset, n));
    sections.push({ shift, scale, lookup, indicesAt, codesAt: offset });
    indicesAt += n;
    offset += packedBytes;
  });
  if (offset !== payload.length) fail('TRAILING_BYTES', `${payload.length - offset} bytes follow the last tensor`);
  return sections;
}

/**
 * The decoder's working buffer for indices: sized by the largest layout decoded so far (never by a
 * payload) and kept between calls, so that checking a payload allocates nothing and a valid one
 * is decoded once, then copied out.
 */
let indexWorkspace = new Uint16Array(0);

function indexWorkspaceFor(layout: WireLayout): Uint16Array {
  const entries = layout.tensors.reduce((total, t) => total + t.numChunks * t.k, 0);
  if (indexWorkspace.length < entries) indexWorkspace = new Uint16Array(entries);
  return indexWorkspace;
}

/** Reads and checks just the header (cheap: for a commit check before a full decode). */
export function readPayloadHeader(
  payload: Uint8Array,
  layout: WireLayout,
  options: DecodeOptions = {},
): PayloadHeader & { bodyAt: number } {
  checkWireLayout(layout);
  if (payload.length > maxPayloadBytes(layout)) {
    fail('TOO_LARGE', `payload of ${payload.length} bytes exceeds the ${maxPayloadBytes(layout)} the layout allows`);
  }
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const h = parseHeader(payload, view);
  const layoutHash = payload.subarray(h.layoutHashAt, h.layoutHashAt + HASH_BYTES);
  if (!sameBytes(layoutHash, layout.layoutHash)) {
    fail(
      'LAYOUT_MISMATCH',
      `layout hash ${hex(layoutHash)} differs from this model's ${hex(layout.layoutHash)}: the sender runs another model shape`,
    );
  }
  if (h.chunkRows !== layout.chunkRows || h.chunkCols !== layout.chunkCols || h.k !== layout.k) {
    fail(
      'LAYOUT_MISMATCH',
      `chunk ${h.chunkRows}×${h.chunkCols} k=${h.k} differs from the run's ${layout.chunkRows}×${layout.chunkCols} k=${layout.k}`,
    );
  }
  if (h.tensorCount !== layout.tensors.length)
    fail('LAYOUT_MISMATCH', `payload has ${h.tensorCount} tensors, the layout ${layout.tensors.length}`);
  const baseModelHash = payload.subarray(h.baseModelHashAt, h.baseModelHashAt + HASH_BYTES);
  const expect = options.expect ?? {};
  if (expect.runId !== undefined && expect.runId !== h.runId) fail('HEADER_MISMATCH', `run id '${h.runId}', expected '${expect.runId}'`);
  if (expect.round !== undefined && expect.round !== h.round) fail('HEADER_MISMATCH', `round ${h.round}, expected ${expect.round}`);
  if (expect.baseModelHash !== undefined && !sameBytes(expect.baseModelHash, baseModelHash)) {
    fail(
      'HEADER_MISMATCH',
      `base model hash ${hex(baseModelHash)}, expected ${hex(expect.baseModelHash)}: the sender trained on another model`,
    );
  }
  return {
    runId: h.runId,
    round: h.round,
    baseModelHash,
    layoutHash,
    chunkRows: h.chunkRows,
    chunkCols: h.chunkCols,
    k: h.k,
    bodyAt: h.bodyAt,
  };
}

/**
 * Decodes a payload the layout admits, or throws CodecError. Allocates nothing until the whole
 * payload has been checked, then at most `decodedBytesBound(layout)` bytes of typed arrays (besides
 * the index working buffer, allocated once for the largest layout seen and kept: 2 bytes an index).
 */
export function decodeUpdate(payload: Uint8Array, layout: WireLayout, options: DecodeOptions = {}): DecodedPayload {
  const header = readPayloadHeader(payload, layout, options);
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const workspace = indexWorkspaceFor(layout);
  const sections = walkTensors(payload, view, header.bodyAt, layout, workspace);

  const allocate = (bytes: number) => options.onAllocate?.(bytes);
  allocate(2 * HASH_BYTES);
  const tensors = sections.map(({ shift, scale, lookup, indicesAt, codesAt }, i): CompressedTensor => {
    const { numChunks, chunkSize, k } = layout.tensors[i]!;
    const n = numChunks * k;
    const codes = new Uint8Array(n);
    unpackCodes(payload, codesAt, codes);
    return {
      numChunks,
      chunkSize,
      k,
      indices: workspace.slice(indicesAt, indicesAt + n),
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
