// A tensor's in-chunk indices as a Golomb-Rice bit stream (docs/PROTOCOL.md §2, "Index stream"):
// each gap between consecutive indices of a chunk is its quotient g >> r in unary and its low r
// bits, least significant bit first; ≈ 7.5 bits an index at k = 64 of 4096. Here: the writer, the
// reader (which checks every rule of the stream as it goes), the choice of the canonical
// parameter r, and the bounds on a stream's length.
//
// Both directions make one pass over the bits, a 32-bit word per index: base's 1.95M indices take
// tens of milliseconds (docs/BENCHMARKS.md).
import { MAX_RICE_PARAMETER, fail } from './wire-format.ts';
import type { CompressedTensor, TensorChunking } from './types.ts';

/**
 * Bits that the writer and the reader handle in one 32-bit word: a word at the byte holding bit p
 * has 32 − (p mod 8) ≥ 25 bits from p on. One gap's code (unary run, terminator, remainder) that
 * fits in 25 bits is written or read at once; a longer one goes bit by bit.
 */
const FAST_WINDOW_BITS = 25;
const FAST_WINDOW_MASK = 2 ** FAST_WINDOW_BITS - 1;

/**
 * Most bits a well-formed stream with parameter r can take: the gaps of a chunk sum to at most
 * chunkSize − k, so its unary parts hold at most ⌊(chunkSize − k) / 2^r⌋ one-bits.
 */
function maxIndexStreamBits(t: TensorChunking, r: number): number {
  return t.numChunks * (t.k * (r + 1) + Math.floor((t.chunkSize - t.k) / 2 ** r));
}

export function maxIndexStreamBytes(t: TensorChunking, r: number): number {
  return Math.ceil(maxIndexStreamBits(t, r) / 8);
}

/**
 * Bytes of the longest canonical stream: ⌈min over r of maxIndexStreamBits(t, r) / 8⌉. No
 * selection's canonical stream is longer (it is at most its bits at the r minimising the bound),
 * and the selection whose chunks each put all their slack in one gap (indices 0, 1, …, k − 2,
 * chunkSize − 1) reaches the bound at every r, so its canonical stream is exactly this long.
 */
export function longestIndexStreamBytes(t: TensorChunking): number {
  let bits = Infinity;
  for (let r = 0; r <= MAX_RICE_PARAMETER; r++) bits = Math.min(bits, maxIndexStreamBits(t, r));
  return Math.ceil(bits / 8);
}

// ---------------------------------------------------------------------------------------------
// The canonical parameter

/**
 * Where the search for the canonical Rice parameter starts: the Rice-optimal parameter for
 * geometric gaps of the chunk's mean gap, ⌊log2(1 + mean·ln 2)⌋. Any start gives the same answer
 * (see canonicalRiceParameter); a good one saves passes over the indices.
 */
export function riceParameterGuess(t: TensorChunking): number {
  const meanGap = (t.chunkSize - t.k) / t.k;
  return Math.min(MAX_RICE_PARAMETER, Math.max(0, Math.floor(Math.log2(1 + meanGap * Math.LN2))));
}

/** Σ (g >> r) over the tensor's gaps g: the unary bits of its Rice stream at parameter r. */
export function quotientSum(tensor: CompressedTensor, r: number): number {
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
 * `guess`: bits is convex in r (readIndexStream says why), so a local minimum is the global one,
 * and walking down while bits(r−1) ≤ bits(r) lands on the smallest of a tied minimum.
 */
export function canonicalRiceParameter(n: number, guess: number, sumAt: (r: number) => number): { riceParameter: number; bits: number } {
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

// ---------------------------------------------------------------------------------------------
// Writer

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
export function writeIndexStream(
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
      if (index >= chunkSize) fail('index-out-of-range', `${where} chunk ${c}: index ${index} ≥ chunk size ${chunkSize}`);
      if (index <= prev) fail('bad-indices', `${where} chunk ${c}: index ${index} after ${prev}; indices must be strictly ascending`);
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

// ---------------------------------------------------------------------------------------------
// Reader

/**
 * Reads one tensor's index stream, the `streamBytes` bytes from byte `start` of `payload` (which
 * holds them all), checking every index, and writes the indices to `out` (numChunks·k entries).
 * Gap coding cannot express a duplicate or a descending index, so range, exact length, zero
 * padding and the canonical Rice parameter are what is left to check. The first rule broken, in
 * the order of PROTOCOL.md's "Order of checks", names the error: bit by bit, a one-bit that
 * leaves no room for the index in its chunk is index-out-of-range, a bit past the stream's end is
 * bad-index-stream, and an index past its chunk is index-out-of-range once its remainder is read;
 * then, after the last index, the stream's length, its padding and the parameter.
 *
 * The canonical parameter minimises bits(r) = n·(r+1) + Σ (g >> r) over the gaps g. bits is
 * convex in r: bits(r+1) − bits(r) = n − Σ ⌈(g >> r) / 2⌉, and ⌈(g >> r)/2⌉ does not grow with r.
 * So r is the canonical choice exactly when bits(r−1) > bits(r) ≤ bits(r+1), and the two
 * neighbours' sums come from this stream's quotients q = g >> r: Σ (g >> (r+1)) = Σ ⌊q/2⌋ and
 * Σ (g >> (r−1)) = Σ 2q + (the remainders' top bits).
 */
export function readIndexStream(
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
  let quotients = 0;
  let halfQuotients = 0;
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
          fail('index-out-of-range', `${where} chunk ${c}: index ${j - c * k} runs past chunk size ${chunkSize}`);
        remainder = (window >>> (ones + 1)) & remainderMask;
        bit += ones + 1 + r;
      } else {
        // A long run, or the stream's last bits: one bit at a time.
        for (;;) {
          if (bit >= endBit) fail('bad-index-stream', `${where}: index stream ends inside index ${j} (chunk ${c})`);
          const b = (payload[bit >>> 3]! >>> (bit & 7)) & 1;
          bit++;
          if (b === 0) break;
          if (++quotient > maxQuotient)
            fail('index-out-of-range', `${where} chunk ${c}: index ${j - c * k} runs past chunk size ${chunkSize}`);
        }
        if (bit + r > endBit) fail('bad-index-stream', `${where}: index stream ends inside index ${j} (chunk ${c})`);
        for (let b = 0; b < r; b++, bit++) remainder |= ((payload[bit >>> 3]! >>> (bit & 7)) & 1) << b;
      }
      quotients += quotient;
      halfQuotients += quotient >>> 1;
      topRemainderBits += remainder >>> (r - 1); // r = 0: remainder is 0
      const index = prev + 1 + (quotient << r) + remainder;
      if (index >= chunkSize) fail('index-out-of-range', `${where} chunk ${c}: index ${index} ≥ chunk size ${chunkSize}`);
      out[j] = index;
      prev = index;
    }
  }
  const usedBytes = Math.ceil(bit / 8) - start;
  if (usedBytes !== streamBytes)
    fail('bad-index-stream', `${where}: index stream declares ${streamBytes} bytes but its indices end after ${usedBytes}`);
  for (; bit < endBit; bit++) {
    if ((payload[bit >>> 3]! >>> (bit & 7)) & 1) fail('bad-padding', `${where}: index stream padding bit ${bit - start * 8} is set`);
  }
  const n = numChunks * k;
  const bits = n * (r + 1) + quotients;
  const bitsBelow = r > 0 ? n * r + 2 * quotients + topRemainderBits : Infinity;
  const bitsAbove = r < MAX_RICE_PARAMETER ? n * (r + 2) + halfQuotients : Infinity;
  if (bitsBelow <= bits || bitsAbove < bits) {
    const [better, betterBits] = bitsBelow <= bits ? [r - 1, bitsBelow] : [r + 1, bitsAbove];
    fail(
      'bad-rice-parameter',
      `${where}: Rice parameter ${r} codes the indices in ${bits} bits, parameter ${better} in ${betterBits}; ` +
        'the canonical parameter gives the shortest stream (the smallest on a tie)',
    );
  }
}
