// IEEE binary16 on the CPU: the value of a half's bits, and the halves around an f32, for checking
// the f16 path (packed pairs, shaders/cast.wgsl) against float64 references.

/** The number a binary16 bit pattern stands for (subnormals, ±inf and NaN included). */
function halfBitsToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Unpacks n halves stored two per u32 (low half first, as pack2x16float writes them). */
export function unpackHalves(words: Uint32Array, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = halfBitsToNumber((words[i >> 1]! >>> ((i & 1) * 16)) & 0xffff);
  return out;
}

/** The spacing of binary16 values at x (2^-24 below the normal range), for |x| ≤ 65504. */
export function halfUlp(x: number): number {
  const a = Math.abs(x);
  if (a < 2 ** -14) return 2 ** -24;
  return 2 ** (Math.floor(Math.log2(a)) - 10);
}
