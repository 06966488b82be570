// SparseLoCo's wire format: one peer's CompressedUpdate as bytes, and back. The in-chunk indices
// are Golomb-Rice coded as gaps (≈ 7.5 bits an index at k = 64 of 4096, at most 8), the 2-bit
// codes are packed four to a byte, so a chunk costs ≈ 480 + 128 bits against 131072 dense:
// about 212× smaller than fp32 (measured in test/sparseloco/codec.test.ts). docs/PROTOCOL.md
// gives the layout byte by byte and says why Rice coding was chosen over enumerative coding.
//
// Payloads come from strangers. The decoder is given the layout it expects, checks the whole
// payload before allocating anything (a first pass that walks every field without storing it),
// allocates exactly what the layout says a valid payload needs, and reports every defect as a
// CodecError with a machine-readable code.
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
  for (const [name, value] of [['chunkRows', layout.chunkRows], ['chunkCols', layout.chunkCols], ['k', layout.k]] as const) {
    if (!Number.isInteger(value) || value < 1 || value > 0xffff) throw new RangeError(`wire layout: ${name} ${value} must be an integer in [1, 65535]`);
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
  if (value !== 0 && Math.abs(value) < MIN_NORMAL_F32) fail('BAD_QUANTIZATION', `${where}: ${what} ${value} is subnormal; the compressor flushes subnormals to +0`);
}

/** The rules on shift, scale and lookup that do not depend on the codes. */
function checkQuantization(where: string, shift: number, scale: number, lookup: ArrayLike<number>): void {
  checkCanonicalFloat(where, 'shift', shift);
  if (Math.abs(shift) > MAX_ABS_VALUE) fail('VALUE_TOO_LARGE', `${where}: shift ${shift} exceeds ±${MAX_ABS_VALUE}`);
  checkCanonicalFloat(where, 'scale', scale);
  if (scale !== 0 && (scale < MIN_ABS_SCALE || scale > MAX_ABS_SCALE)) {
    fail('BAD_QUANTIZATION', `${where}: scale ${scale} is neither +0 nor inside [${MIN_ABS_SCALE}, ${MAX_ABS_SCALE}] (the compressor's scale is 1.5·std ≥ 0)`);
  }
  for (let b = 0; b < 4; b++) checkCanonicalFloat(where, `lookup[${b}]`, lookup[b]!);
}

/** Bit b set when some entry has code b. */
function binsUsed(codeAt: (j: number) => number, n: number): number {
  let used = 0;
  for (let j = 0; j < n && used !== 15; j++) used |= 1 << codeAt(j);
  return used;
}

/**
 * The rules that tie the quantization to the codes: with scale 0 every code is 2; a bin no entry
 * uses has lookup +0 (the compressor's value, and the only one, since nothing decodes through it);
 * every value the tensor decodes to is within ±MAX_ABS_VALUE.
 */
function checkBins(where: string, shift: number, scale: number, lookup: ArrayLike<number>, used: number): void {
  if (scale === 0 && used !== 1 << 2) fail('BAD_CODES', `${where}: scale is 0 but some code is not 2 (with scale 0 the compressor codes every entry 2)`);
  for (let b = 0; b < 4; b++) {
    if ((used >>> b) & 1) {
      const value = ftz(Math.fround(lookup[b]! + shift));
      if (Math.abs(value) > MAX_ABS_VALUE) fail('VALUE_TOO_LARGE', `${where}: code ${b} decodes to ${value}, beyond ±${MAX_ABS_VALUE}`);
    } else if (!Object.is(lookup[b], 0)) {
      fail('BAD_QUANTIZATION', `${where}: lookup[${b}] is ${lookup[b]} but no entry has code ${b}; an unused bin's lookup must be +0`);
    }
  }
}

function checkTensorForEncoding(i: number, tensor: CompressedTensor, expected: TensorChunking): void {
  const where = `tensor ${i}`;
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
  for (let c = 0; c < expected.numChunks; c++) {
    let prev = -1;
    for (let j = c * expected.k; j < (c + 1) * expected.k; j++) {
      const index = tensor.indices[j]!;
      if (index >= expected.chunkSize) fail('INDEX_OUT_OF_RANGE', `${where} chunk ${c}: index ${index} ≥ chunk size ${expected.chunkSize}`);
      if (index <= prev) fail('BAD_INDICES', `${where} chunk ${c}: index ${index} after ${prev}; indices must be strictly ascending`);
      prev = index;
    }
  }
  for (let j = 0; j < n; j++) {
    if (tensor.codes[j]! > 3) fail('BAD_CODES', `${where}: code ${tensor.codes[j]} at entry ${j} does not fit in 2 bits`);
  }
  checkBins(where, Math.fround(tensor.shift), Math.fround(tensor.scale), tensor.lookup, binsUsed((j) => tensor.codes[j]!, n));
}

/** Gaps between consecutive selected indices: the first index itself, then (next − previous − 1). */
function gapAt(indices: Uint16Array, k: number, j: number): number {
  return j % k === 0 ? indices[j]! : indices[j]! - indices[j - 1]! - 1;
}

/**
 * The canonical Rice parameter: the one with the shortest stream for these indices (the smallest
 * on a tie), and its bit count. The only one the decoder accepts.
 */
export function bestRiceParameter(tensor: CompressedTensor): { riceParameter: number; bits: number } {
  const n = tensor.indices.length;
  const quotientSums = new Float64Array(MAX_RICE_PARAMETER + 1);
  for (let j = 0; j < n; j++) {
    const gap = gapAt(tensor.indices, tensor.k, j);
    for (let r = 0; r <= MAX_RICE_PARAMETER; r++) quotientSums[r]! += gap >>> r;
  }
  let best = { riceParameter: 0, bits: Infinity };
  for (let r = 0; r <= MAX_RICE_PARAMETER; r++) {
    const bits = quotientSums[r]! + n * (r + 1);
    if (bits < best.bits) best = { riceParameter: r, bits };
  }
  return best;
}

function writeIndexStream(out: Uint8Array, start: number, tensor: CompressedTensor, riceParameter: number): void {
  let bit = start * 8;
  for (let j = 0; j < tensor.indices.length; j++) {
    const gap = gapAt(tensor.indices, tensor.k, j);
    for (let q = gap >>> riceParameter; q > 0; q--, bit++) out[bit >>> 3]! |= 1 << (bit & 7);
    bit++; // the unary terminator is a zero bit
    for (let b = 0; b < riceParameter; b++, bit++) {
      if ((gap >>> b) & 1) out[bit >>> 3]! |= 1 << (bit & 7);
    }
  }
}

function writeCodes(out: Uint8Array, start: number, codes: Uint8Array): void {
  for (let j = 0; j < codes.length; j++) out[start + (j >>> 2)]! |= codes[j]! << ((j & 3) * 2);
}

/** Encodes `update` for the wire after checking it against `layout` (CodecError if it breaks the format). */
export function encodeUpdate(origin: PayloadOrigin, update: CompressedUpdate, layout: WireLayout): Uint8Array {
  checkWireLayout(layout);
  const runIdBytes = utf8Encoder.encode(origin.runId);
  if (runIdBytes.length < 1 || runIdBytes.length > MAX_RUN_ID_BYTES) {
    fail('BAD_RUN_ID', `run id '${origin.runId}' is ${runIdBytes.length} UTF-8 bytes; it must be 1 to ${MAX_RUN_ID_BYTES}`);
  }
  if (utf8Decoder.decode(runIdBytes) !== origin.runId) {
    fail('BAD_RUN_ID', `run id '${origin.runId}' holds a lone UTF-16 surrogate, which UTF-8 cannot carry: receivers would read another run id`);
  }
  if (!Number.isInteger(origin.round) || origin.round < 0 || origin.round > 0xffffffff) {
    fail('BAD_HEADER', `round ${origin.round} must be an integer in [0, 2^32)`);
  }
  if (origin.baseModelHash.length !== HASH_BYTES) fail('BAD_HEADER', `base model hash is ${origin.baseModelHash.length} bytes, expected ${HASH_BYTES}`);
  if (update.tensors.length !== layout.tensors.length) {
    fail('LAYOUT_MISMATCH', `update has ${update.tensors.length} tensors, the layout ${layout.tensors.length}`);
  }
  const plans = update.tensors.map((tensor, i) => {
    checkTensorForEncoding(i, tensor, layout.tensors[i]!);
    const { riceParameter, bits } = bestRiceParameter(tensor);
    return { tensor, riceParameter, streamBytes: Math.ceil(bits / 8) };
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
  for (const { tensor, riceParameter, streamBytes } of plans) {
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
    writeIndexStream(out, offset, tensor, riceParameter);
    offset += streamBytes;
    writeCodes(out, offset, tensor.codes);
    offset += codeBytes(tensor);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Decoder

function need(payload: Uint8Array, offset: number, bytes: number, what: string): void {
  if (offset + bytes > payload.length) fail('TRUNCATED', `payload ends at byte ${payload.length} inside ${what} (bytes ${offset}..${offset + bytes - 1})`);
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
  if (version !== WIRE_VERSION) fail('UNSUPPORTED_VERSION', `wire version ${version}; this build reads version ${WIRE_VERSION}: update the client`);
  need(payload, 0, HEADER_FIXED_BYTES, 'the header');
  const flags = view.getUint16(6, true);
  if (flags !== 0) fail('BAD_RESERVED', `header flags ${flags} must be 0 in version ${WIRE_VERSION}`);
  const runIdLength = payload[86]!;
  if (runIdLength < 1 || runIdLength > MAX_RUN_ID_BYTES) fail('BAD_RUN_ID', `run id length ${runIdLength} must be 1 to ${MAX_RUN_ID_BYTES}`);
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
 * Walks one tensor's Rice-coded index stream, checking every index; writes them to `out` when
 * given. Gap coding cannot express a duplicate or a descending index, so range, exact length,
 * zero padding and the canonical Rice parameter are what is left to check.
 *
 * The canonical parameter minimises bits(r) = n·(r+1) + Σ (g >> r) over the gaps g. bits is
 * convex in r: bits(r+1) − bits(r) = n − Σ ⌈(g >> r) / 2⌉, and ⌈(g >> r)/2⌉ does not grow with r.
 * So r is the canonical choice exactly when bits(r−1) > bits(r) ≤ bits(r+1), and the two
 * neighbours' sums come from this stream's quotients q = g >> r: Σ (g >> (r+1)) = Σ ⌊q/2⌋ and
 * Σ (g >> (r−1)) = Σ 2q + (the remainders' top bits).
 */
function walkIndexStream(
  payload: Uint8Array,
  start: number,
  streamBytes: number,
  t: TensorChunking,
  riceParameter: number,
  where: string,
  out: Uint16Array | null,
): void {
  const endBit = (start + streamBytes) * 8;
  const { numChunks, chunkSize, k } = t;
  const r = riceParameter;
  const remainderMask = (1 << r) - 1;
  // Bytes a remainder may touch; reading past the payload would leave V8's fast path, so the last
  // few remainders take the bounds-checked branch below.
  const lastFullWindowByte = payload.length - 3;
  let quotientSum = 0;
  let halfQuotientSum = 0;
  let topRemainderBits = 0;
  let bit = start * 8;
  for (let c = 0; c < numChunks; c++) {
    let prev = -1;
    for (let j = c * k, end = (c + 1) * k; j < end; j++) {
      // The largest gap that keeps this index inside the chunk bounds the unary run, so a long
      // run of one-bits is rejected as soon as it is too long, not at the end of the stream.
      const maxQuotient = (chunkSize - 2 - prev) >> r;
      let quotient = 0;
      for (;;) {
        if (bit >= endBit) fail('BAD_INDEX_STREAM', `${where}: index stream ends inside index ${j} (chunk ${c})`);
        const b = (payload[bit >>> 3]! >>> (bit & 7)) & 1;
        bit++;
        if (b === 0) break;
        if (++quotient > maxQuotient) fail('INDEX_OUT_OF_RANGE', `${where} chunk ${c}: index ${j - c * k} runs past chunk size ${chunkSize}`);
      }
      if (bit + r > endBit) fail('BAD_INDEX_STREAM', `${where}: index stream ends inside index ${j} (chunk ${c})`);
      // r ≤ 15 bits starting anywhere in a byte span at most 3 bytes.
      const at = bit >>> 3;
      const window =
        at <= lastFullWindowByte
          ? payload[at]! | (payload[at + 1]! << 8) | (payload[at + 2]! << 16)
          : (payload[at] ?? 0) | ((payload[at + 1] ?? 0) << 8) | ((payload[at + 2] ?? 0) << 16);
      const remainder = (window >>> (bit & 7)) & remainderMask;
      bit += r;
      quotientSum += quotient;
      halfQuotientSum += quotient >>> 1;
      if (r > 0) topRemainderBits += remainder >>> (r - 1);
      const index = prev + 1 + (quotient << r) + remainder;
      if (index >= chunkSize) fail('INDEX_OUT_OF_RANGE', `${where} chunk ${c}: index ${index} ≥ chunk size ${chunkSize}`);
      if (out) out[j] = index;
      prev = index;
    }
  }
  const usedBytes = Math.ceil(bit / 8) - start;
  if (usedBytes !== streamBytes) fail('BAD_INDEX_STREAM', `${where}: index stream declares ${streamBytes} bytes but its indices end after ${usedBytes}`);
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

/**
 * Walks every tensor section. With `sink` null it only validates (nothing is allocated); with a
 * sink it also fills the tensors' arrays. Both passes run the same checks in the same order.
 */
function walkTensors(
  payload: Uint8Array,
  view: DataView,
  bodyAt: number,
  layout: WireLayout,
  sink: CompressedTensor[] | null,
): void {
  let offset = bodyAt;
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
    if (streamBytes > streamBound) fail('BAD_INDEX_STREAM', `${where}: index stream of ${streamBytes} bytes exceeds the ${streamBound} a valid one can take`);
    offset += TENSOR_FIXED_BYTES;
    need(payload, offset, streamBytes, `${where}'s index stream`);

    let target: CompressedTensor | null = null;
    if (sink) {
      target = {
        numChunks,
        chunkSize,
        k,
        indices: new Uint16Array(numChunks * k),
        codes: new Uint8Array(numChunks * k),
        shift,
        scale,
        lookup: Float32Array.from(lookup),
      };
      sink.push(target);
    }
    walkIndexStream(payload, offset, streamBytes, t, riceParameter, where, target?.indices ?? null);
    offset += streamBytes;

    const n = numChunks * k;
    const packedBytes = codeBytes(t);
    need(payload, offset, packedBytes, `${where}'s codes`);
    if (n % 4 !== 0 && payload[offset + packedBytes - 1]! >>> ((n % 4) * 2) !== 0) {
      fail('BAD_PADDING', `${where}: the unused bits of the last code byte are set`);
    }
    const codesAt = offset;
    checkBins(where, shift, scale, lookup, binsUsed((j) => (payload[codesAt + (j >>> 2)]! >>> ((j & 3) * 2)) & 3, n));
    if (target) {
      const codes = target.codes;
      for (let j = 0; j < n; j++) codes[j] = (payload[offset + (j >>> 2)]! >>> ((j & 3) * 2)) & 3;
    }
    offset += packedBytes;
  });
  if (offset !== payload.length) fail('TRAILING_BYTES', `${payload.length - offset} bytes follow the last tensor`);
}

/** Reads and checks just the header (cheap: for a commit check before a full decode). */
export function readPayloadHeader(payload: Uint8Array, layout: WireLayout, options: DecodeOptions = {}): PayloadHeader & { bodyAt: number } {
  checkWireLayout(layout);
  if (payload.length > maxPayloadBytes(layout)) {
    fail('TOO_LARGE', `payload of ${payload.length} bytes exceeds the ${maxPayloadBytes(layout)} the layout allows`);
  }
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const h = parseHeader(payload, view);
  const layoutHash = payload.subarray(h.layoutHashAt, h.layoutHashAt + HASH_BYTES);
  if (!sameBytes(layoutHash, layout.layoutHash)) {
    fail('LAYOUT_MISMATCH', `layout hash ${hex(layoutHash)} differs from this model's ${hex(layout.layoutHash)}: the sender runs another model shape`);
  }
  if (h.chunkRows !== layout.chunkRows || h.chunkCols !== layout.chunkCols || h.k !== layout.k) {
    fail('LAYOUT_MISMATCH', `chunk ${h.chunkRows}×${h.chunkCols} k=${h.k} differs from the run's ${layout.chunkRows}×${layout.chunkCols} k=${layout.k}`);
  }
  if (h.tensorCount !== layout.tensors.length) fail('LAYOUT_MISMATCH', `payload has ${h.tensorCount} tensors, the layout ${layout.tensors.length}`);
  const baseModelHash = payload.subarray(h.baseModelHashAt, h.baseModelHashAt + HASH_BYTES);
  const expect = options.expect ?? {};
  if (expect.runId !== undefined && expect.runId !== h.runId) fail('HEADER_MISMATCH', `run id '${h.runId}', expected '${expect.runId}'`);
  if (expect.round !== undefined && expect.round !== h.round) fail('HEADER_MISMATCH', `round ${h.round}, expected ${expect.round}`);
  if (expect.baseModelHash !== undefined && !sameBytes(expect.baseModelHash, baseModelHash)) {
    fail('HEADER_MISMATCH', `base model hash ${hex(baseModelHash)}, expected ${hex(expect.baseModelHash)}: the sender trained on another model`);
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
 * payload has been checked, then at most `decodedBytesBound(layout)` bytes of typed arrays.
 */
export function decodeUpdate(payload: Uint8Array, layout: WireLayout, options: DecodeOptions = {}): DecodedPayload {
  const header = readPayloadHeader(payload, layout, options);
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  walkTensors(payload, view, header.bodyAt, layout, null);

  const allocate = (bytes: number) => options.onAllocate?.(bytes);
  allocate(2 * HASH_BYTES);
  const tensors: CompressedTensor[] = [];
  walkTensors(payload, view, header.bodyAt, layout, tensors);
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
