// A second decoder of the SparseLoCo wire format, written from docs/PROTOCOL.md §2 alone (the
// byte tables, "Index stream", "The canonical Rice parameter", "Codes", "Magnitude bound", "The
// longest valid payload", "Order of checks") to show that the text is enough to decode exactly as
// src/sparseloco/codec.ts does. It is deliberately plain, and imports no codec code: a byte cursor
// that reads each field in turn, one bit at a time through the index stream, the canonical Rice
// parameter by trying all sixteen, the size bound by its formula. Only the layout's shape is
// shared. test/sparseloco/spec-decoder.test.ts runs both decoders on the same payloads.
import type { WireLayout } from '../../src/sparseloco/types.ts';

export interface SpecTensor {
  /** Where the section, its index stream and its codes start in the payload. */
  at: number;
  streamAt: number;
  codesAt: number;
  riceParameter: number;
  shift: number;
  scale: number;
  lookup: number[];
  indices: number[];
  codes: number[];
}

export type SpecResult =
  | { ok: true; runId: string; round: number; baseModelHash: Uint8Array; tensors: SpecTensor[] }
  | { ok: false; code: string; detail: string };

export interface SpecExpectations {
  runId?: string;
  round?: number;
  baseModelHash?: Uint8Array;
}

class Rejection extends Error {
  constructor(
    readonly code: string,
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
  }
}

function reject(code: string, detail: string): never {
  throw new Rejection(code, detail);
}

const MAX_VALUE = 1e3;

/** "The longest valid payload": 87 + 64 + Σ (40 + ⌈B / 8⌉ + ⌈numChunks·k / 4⌉). */
export function specMaxPayloadBytes(layout: WireLayout): number {
  let total = 87 + 64;
  for (const { numChunks, chunkSize, k } of layout.tensors) {
    let longest = Infinity;
    for (let r = 0; r <= 15; r++) longest = Math.min(longest, numChunks * (k * (r + 1) + Math.floor((chunkSize - k) / 2 ** r)));
    total += 40 + Math.ceil(longest / 8) + Math.ceil((numChunks * k) / 4);
  }
  return total;
}

/** §1: flushes magnitudes below 2^-126 to +0. */
function ftz(x: number): number {
  return Math.abs(x) < 2 ** -126 ? 0 : x;
}

/** "An f32 field's bit pattern": finite, not −0, not subnormal. */
function canonicalF32(value: number, what: string): void {
  if (!Number.isFinite(value) || Object.is(value, -0) || (value !== 0 && Math.abs(value) < 2 ** -126))
    reject('bad-quantization', `${what} ${value} is not a canonical f32`);
}

function sameBytes(a: Uint8Array, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function specDecode(payload: Uint8Array, layout: WireLayout, expect: SpecExpectations = {}): SpecResult {
  try {
    return decode(payload, layout, expect);
  } catch (err) {
    if (err instanceof Rejection) return { ok: false, code: err.code, detail: err.detail };
    throw err;
  }
}

function decode(payload: Uint8Array, layout: WireLayout, expect: SpecExpectations): SpecResult {
  // 1. Length, before any byte is read.
  if (payload.length > specMaxPayloadBytes(layout)) reject('too-large', `${payload.length} bytes`);

  // 2. Every field in payload order; a field the payload ends inside is truncated.
  let pos = 0;
  const take = (n: number, what: string): Uint8Array => {
    if (pos + n > payload.length) reject('truncated', `the payload ends inside ${what}`);
    const bytes = payload.subarray(pos, pos + n);
    pos += n;
    return bytes;
  };
  const uint = (n: number, what: string): number => {
    const bytes = take(n, what);
    let value = 0;
    for (let i = n - 1; i >= 0; i--) value = value * 256 + bytes[i]!;
    return value;
  };
  const f32At = (bytes: Uint8Array, i: number): number => new DataView(bytes.slice(i, i + 4).buffer).getFloat32(0, true);

  // Header.
  if (!sameBytes(take(4, 'magic'), [0x57, 0x4c, 0x43, 0x4f])) reject('bad-magic', 'not WLCO');
  if (uint(2, 'version') !== 1) reject('unsupported-version', 'not version 1');
  if (uint(2, 'flags') !== 0) reject('bad-reserved', 'flags');
  const round = uint(4, 'round');
  const baseModelHash = take(32, 'base model hash').slice();
  if (!sameBytes(take(32, 'layout hash'), layout.layoutHash)) reject('layout-mismatch', 'layout hash');
  if (uint(2, 'chunk rows') !== layout.chunkRows) reject('layout-mismatch', 'chunk rows');
  if (uint(2, 'chunk cols') !== layout.chunkCols) reject('layout-mismatch', 'chunk cols');
  if (uint(2, 'k') !== layout.k) reject('layout-mismatch', 'k');
  if (uint(4, 'tensor count') !== layout.tensors.length) reject('layout-mismatch', 'tensor count');
  const runIdLength = uint(1, 'run id length');
  if (runIdLength < 1 || runIdLength > 64) reject('bad-run-id', `length ${runIdLength}`);
  const runIdBytes = take(runIdLength, 'run id');
  let runId = '';
  try {
    // Every character the bytes spell, a leading byte-order mark included.
    runId = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(runIdBytes);
  } catch {
    reject('bad-run-id', 'not UTF-8');
  }

  // The caller's expectations: round, base model hash, run id.
  if (expect.round !== undefined && expect.round !== round) reject('header-mismatch', 'round');
  if (expect.baseModelHash !== undefined && !sameBytes(baseModelHash, expect.baseModelHash)) reject('header-mismatch', 'base model hash');
  if (expect.runId !== undefined && expect.runId !== runId) reject('header-mismatch', 'run id');

  // Tensor sections, in layout order.
  const tensors: SpecTensor[] = [];
  for (const [t, { numChunks, chunkSize, k }] of layout.tensors.entries()) {
    const where = `tensor ${t}`;
    const at = pos;
    if (uint(4, `${where} numChunks`) !== numChunks) reject('layout-mismatch', `${where} numChunks`);
    if (uint(4, `${where} chunkSize`) !== chunkSize) reject('layout-mismatch', `${where} chunkSize`);
    if (uint(2, `${where} k`) !== k) reject('layout-mismatch', `${where} k`);
    const r = uint(1, `${where} Rice parameter`);
    if (r > 15) reject('bad-rice-parameter', `${where} r = ${r}`);
    if (uint(1, `${where} reserved`) !== 0) reject('bad-reserved', `${where} reserved`);
    const shift = f32At(take(4, `${where} shift`), 0);
    canonicalF32(shift, `${where} shift`);
    if (Math.abs(shift) > MAX_VALUE) reject('value-too-large', `${where} shift ${shift}`);
    const scale = f32At(take(4, `${where} scale`), 0);
    canonicalF32(scale, `${where} scale`);
    if (scale !== 0 && (scale < 1e-12 || scale > 1e4)) reject('bad-quantization', `${where} scale ${scale}`);
    const lookupBytes = take(16, `${where} lookup`);
    const lookup = [0, 1, 2, 3].map((b) => f32At(lookupBytes, 4 * b));
    lookup.forEach((value, b) => canonicalF32(value, `${where} lookup[${b}]`));
    const streamBytes = uint(4, `${where} index stream length`);
    const maxBits = numChunks * (k * (r + 1) + Math.floor((chunkSize - k) / 2 ** r));
    if (streamBytes > Math.ceil(maxBits / 8)) reject('bad-index-stream', `${where} S = ${streamBytes} above the bound`);

    // The index stream, bit by bit.
    const streamAt = pos;
    const stream = take(streamBytes, `${where} index stream`);
    let bit = 0;
    const readBit = (): number => {
      if (bit >= 8 * streamBytes) reject('bad-index-stream', `${where}: the stream ends inside an index`);
      const value = (stream[bit >>> 3]! >>> (bit & 7)) & 1;
      bit++;
      return value;
    };
    const indices: number[] = [];
    const gaps: number[] = [];
    for (let c = 0; c < numChunks; c++) {
      let prev = -1;
      for (let j = 0; j < k; j++) {
        let q = 0;
        while (readBit() === 1) {
          q++;
          if (prev + 1 + q * 2 ** r >= chunkSize) reject('index-out-of-range', `${where} chunk ${c}: the unary run leaves the chunk`);
        }
        let remainder = 0;
        for (let b = 0; b < r; b++) remainder += readBit() * 2 ** b;
        const index = prev + 1 + q * 2 ** r + remainder;
        if (index >= chunkSize) reject('index-out-of-range', `${where} chunk ${c}: index ${index}`);
        gaps.push(index - prev - 1);
        indices.push(index);
        prev = index;
      }
    }
    if (Math.ceil(bit / 8) !== streamBytes) reject('bad-index-stream', `${where}: S is not the bytes the indices occupy`);
    for (; bit < 8 * streamBytes; bit++) if ((stream[bit >>> 3]! >>> (bit & 7)) & 1) reject('bad-padding', `${where} stream padding`);
    const n = numChunks * k;
    const bits = Array.from({ length: 16 }, (_, s) => n * (s + 1) + gaps.reduce((sum, g) => sum + Math.floor(g / 2 ** s), 0));
    const canonical = bits.indexOf(Math.min(...bits)); // the first, so the smallest on a tie
    if (r !== canonical) reject('bad-rice-parameter', `${where}: r = ${r}, the canonical parameter is ${canonical}`);

    // Codes.
    const codesAt = pos;
    const packed = take(Math.ceil(n / 4), `${where} codes`);
    const codes = Array.from({ length: n }, (_, j) => (packed[j >>> 2]! >>> (2 * (j % 4))) & 3);
    if (n % 4 !== 0 && packed[packed.length - 1]! >>> (2 * (n % 4)) !== 0) reject('bad-padding', `${where} code padding`);
    if (scale === 0 && codes.some((code) => code !== 2)) reject('bad-codes', `${where}: scale 0 with a code other than 2`);
    for (let b = 0; b < 4; b++) {
      if (codes.includes(b)) {
        const value = ftz(Math.fround(lookup[b]! + shift));
        if (Math.abs(value) > MAX_VALUE) reject('value-too-large', `${where}: code ${b} decodes to ${value}`);
      } else if (!Object.is(lookup[b], 0)) {
        reject('bad-quantization', `${where}: unused bin ${b} has lookup ${lookup[b]}`);
      }
    }
    tensors.push({ at, streamAt, codesAt, riceParameter: r, shift, scale, lookup, indices, codes });
  }

  // 3. Nothing after the last section.
  if (pos !== payload.length) reject('trailing-bytes', `${payload.length - pos} bytes after the last section`);
  return { ok: true, runId, round, baseModelHash, tensors };
}
