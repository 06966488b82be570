// Launcher for shaders/cast.wgsl: an f32 tensor to packed f16 pairs, the f16 path's matmul inputs.
import code from '../../shaders/cast.wgsl?raw';
import type { BufferRef, GpuRuntime, Program } from '../gpu/runtime.ts';
import { requireBytes, requireCount } from './checks.ts';
import { grid1d } from './grid.ts';

const WG = 256;

const CAST_TO_HALF: Program = {
  name: 'cast_to_half',
  code,
  entryPoint: 'cast_to_half',
  bindings: ['read', 'write', 'uniform'],
  constants: { WG },
};

/** Bytes of n halves packed in pairs (whole u32 words). */
export function halfBytes(n: number): number {
  return Math.ceil(n / 2) * 4;
}

/** dst (packed pairs) = f16(src[0..n)), rounded to nearest, clamped to ±65504; an odd n pads the last word with 0. */
export function castToHalf(rt: GpuRuntime, args: { dst: BufferRef; src: BufferRef; n: number }): void {
  const { dst, src, n } = args;
  requireCount('castToHalf', 'n', n);
  requireBytes('castToHalf', 'src', src, n * 4, `${n} f32`);
  requireBytes('castToHalf', 'dst', dst, halfBytes(n), `${n} f16 packed in pairs`);
  rt.dispatch(CAST_TO_HALF, [src, dst], [n], grid1d(rt, Math.ceil(n / 2), WG), { bytes: 4 * n + halfBytes(n) });
}
