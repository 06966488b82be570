// Seeded, deterministic parameter initialisation that gives the same bits in every JavaScript
// engine: each tensor draws from its own xoshiro128** stream keyed by blake3(seed, name), turned
// into normals by Marsaglia's polar method with a natural log built from + − × ÷ only (the
// engines' Math.log/cos are not required to agree to the last bit; IEEE arithmetic and sqrt are).
import { blake3 } from '../base/blake3.ts';
import type { ParameterLayout } from './layout.ts';

export interface InitOptions {
  seed: number;
  /** Standard deviation of the 2-D weights (Hugging Face's initializer_range). */
  std?: number;
}

/** Hugging Face LlamaConfig.initializer_range. */
const DEFAULT_INIT_STD = 0.02;

/** A flat parameter vector (layout.totalFloats): weights ~ N(0, std²), norm gains 1, padding 0. */
export function initParameters(layout: ParameterLayout, options: InitOptions): Float32Array {
  const std = options.std ?? DEFAULT_INIT_STD;
  const flat = new Float32Array(layout.totalFloats);
  for (const t of layout.tensors) {
    const view = flat.subarray(t.offset, t.offset + t.size);
    if (t.shape.length === 1) {
      view.fill(1);
    } else {
      const normals = new NormalStream(streamKey(options.seed, t.name));
      for (let i = 0; i < view.length; i++) view[i] = std * normals.next();
    }
  }
  return flat;
}

function streamKey(seed: number, name: string): Uint8Array {
  if (!Number.isSafeInteger(seed)) throw new Error(`init seed must be an integer, got ${seed}`);
  return blake3(new TextEncoder().encode(`webloco-init:${seed}:${name}`));
}

/** xoshiro128** (Blackman & Vigna): 32-bit outputs from integer operations only. */
export class Xoshiro128 {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** State from the first 16 bytes of `key`, little-endian. */
  constructor(key: Uint8Array) {
    if (key.length < 16) throw new Error('Xoshiro128 needs a 16-byte key');
    const dv = new DataView(key.buffer, key.byteOffset, 16);
    this.s0 = dv.getUint32(0, true);
    this.s1 = dv.getUint32(4, true);
    this.s2 = dv.getUint32(8, true);
    this.s3 = dv.getUint32(12, true);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the all-zero state is a fixed point
  }

  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Standard normals by the polar method; each accepted pair yields two values. */
export class NormalStream {
  private readonly bits: Xoshiro128;
  private spare: number | null = null;

  constructor(key: Uint8Array) {
    this.bits = new Xoshiro128(key);
  }

  next(): number {
    if (this.spare !== null) {
      const z = this.spare;
      this.spare = null;
      return z;
    }
    for (;;) {
      // Midpoints of 2^32 equal cells of (-1, 1): exact in float64, never ±1.
      const u = (this.bits.nextU32() + 0.5) / 2147483648 - 1;
      const v = (this.bits.nextU32() + 0.5) / 2147483648 - 1;
      const s = u * u + v * v;
      if (s >= 1 || s === 0) continue;
      const f = Math.sqrt((-2 * portableLog(s)) / s);
      this.spare = v * f;
      return u * f;
    }
  }
}

const LN2 = 0.6931471805599453;
const SQRT2 = 1.4142135623730951;
const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const HIGH = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0; // word holding the exponent

/**
 * ln(x) for finite x > 0 from IEEE-exact operations: x = m·2^e with m in [√½, √2), then
 * ln m = 2·atanh(s), s = (m−1)/(m+1), |s| < 0.172, by its series to below 1 ulp.
 */
export function portableLog(x: number): number {
  if (!(x > 0) || !Number.isFinite(x)) throw new Error(`portableLog needs a finite positive number, got ${x}`);
  let e = 0;
  if (x < 2 ** -1000) {
    x *= 2 ** 100; // subnormals have no implicit bit: scale into the normal range first
    e -= 100;
  }
  f64[0] = x;
  e += ((u32[HIGH]! >>> 20) & 0x7ff) - 1023;
  u32[HIGH] = (u32[HIGH]! & 0x800fffff) | (1023 << 20);
  let m = f64[0];
  if (m > SQRT2) {
    m /= 2;
    e += 1;
  }
  const s = (m - 1) / (m + 1);
  const s2 = s * s;
  // Horner over 1/(2k+1) s^(2k), k = 0..12: the first dropped term is below 0.172^26 / 27 ≈ 1e-21.
  let sum = 1 / 25;
  for (let k = 11; k >= 0; k--) sum = 1 / (2 * k + 1) + s2 * sum;
  return e * LN2 + 2 * s * sum;
}
