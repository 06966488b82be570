// Launchers for shaders/rope.wgsl: rotary position embedding in place, forward and backward,
// with the cos/sin table computed on the CPU and cached on the GPU per (S, headDim, theta).
import code from '../../shaders/rope.wgsl?raw';
import { refBytes, type BufferRef, type GpuRuntime, type Program } from '../gpu/runtime.ts';
import { grid1d } from './grid.ts';

const WG = 256;

const ROPE_FORWARD: Program = {
  name: 'rope_forward',
  code,
  entryPoint: 'rope_forward',
  bindings: ['read', 'write', 'uniform'],
  constants: { WG },
};
const ROPE_BACKWARD: Program = {
  name: 'rope_backward',
  code,
  entryPoint: 'rope_backward',
  bindings: ['read', 'write', 'uniform'],
  constants: { WG },
};
export const ROPE_PROGRAMS: readonly Program[] = [ROPE_FORWARD, ROPE_BACKWARD];

/**
 * (cos, sin) pairs, [S, headDim/2, 2], for the angles Hugging Face's LlamaRotaryEmbedding uses:
 * inv_freq_i = 1 / theta^(2i/headDim) and angle = p·inv_freq_i, each step rounded to f32 as
 * PyTorch computes it in f32. The f32 angle matters: near p = 4000 its rounding moves the
 * angle by up to 1.2e-4 rad, so an angle computed in float64 would disagree with HF checkpoints.
 * cos and sin of that f32 angle are then evaluated in float64 and rounded once to f32 (within
 * PyTorch's own 1-ulp cosf/sinf). JavaScript's Math.cos/sin are within a double ulp on every
 * engine, so rounding to f32 gives every browser the same table (barring astronomically rare
 * rounding ties), which WGSL's cos/sin (absolute error bounds only, vendor-specific) could not.
 */
export function ropeCosSinTable(S: number, headDim: number, theta: number): Float32Array {
  const half = headDim / 2;
  const table = new Float32Array(S * half * 2);
  const f32 = Math.fround;
  const invFreq = new Float64Array(half);
  for (let i = 0; i < half; i++) invFreq[i] = f32(1 / f32(Math.pow(f32(theta), f32((2 * i) / headDim))));
  for (let p = 0; p < S; p++) {
    for (let i = 0; i < half; i++) {
      const angle = f32(p * invFreq[i]!);
      table[(p * half + i) * 2] = Math.cos(angle);
      table[(p * half + i) * 2 + 1] = Math.sin(angle);
    }
  }
  return table;
}

const tables = new WeakMap<GpuRuntime, Map<string, GPUBuffer>>();

/** The table on the GPU, uploaded once per runtime and shape (a few hundred KiB at most). */
function cosSinBuffer(rt: GpuRuntime, S: number, headDim: number, theta: number): GPUBuffer {
  let byShape = tables.get(rt);
  if (!byShape) tables.set(rt, (byShape = new Map<string, GPUBuffer>()));
  const key = `${S}:${headDim}:${theta}`;
  let buffer = byShape.get(key);
  if (!buffer) {
    buffer = rt.upload(ropeCosSinTable(S, headDim, theta), `rope-cos-sin-${key}`);
    byShape.set(key, buffer);
  }
  return buffer;
}

interface RopeShape {
  B: number;
  S: number;
  nHeads: number;
  headDim: number;
  theta: number;
}

function launch(rt: GpuRuntime, op: string, p: Program, x: BufferRef, shape: RopeShape): void {
  const { B, S, nHeads, headDim, theta } = shape;
  for (const [name, value] of Object.entries({ B, S, nHeads, headDim })) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`${op}: ${name} must be a positive integer, got ${value}`);
  }
  if (headDim % 2 !== 0) throw new Error(`${op}: headDim must be even to rotate pairs (i, i + headDim/2), got ${headDim}`);
  if (!(theta > 0) || !Number.isFinite(theta))
    throw new Error(`${op}: theta must be a positive number (LLaMA uses 10000 or 500000), got ${theta}`);
  const T = B * S;
  const bytes = T * nHeads * headDim * 4;
  if (refBytes(x) < bytes) {
    throw new Error(`${op}: the tensor holds ${refBytes(x)} bytes but [B·S=${T}, nHeads·headDim=${nHeads * headDim}] f32 needs ${bytes}`);
  }
  const table = cosSinBuffer(rt, S, headDim, theta);
  rt.dispatch(p, [table, x], [T, S, nHeads, headDim], grid1d(rt, (T * nHeads * headDim) / 2, WG), {
    bytes: 4 * (2 * T * nHeads * headDim + S * headDim),
  });
}

/** In place on x[B·S, nHeads·headDim]: rotates each head by its token's position within the sequence. */
export function ropeForward(rt: GpuRuntime, args: { x: BufferRef } & RopeShape): void {
  launch(rt, 'ropeForward', ROPE_FORWARD, args.x, args);
}

/** In place on dx: the inverse (transpose) rotation, turning ∂L/∂rotated into ∂L/∂x. */
export function ropeBackward(rt: GpuRuntime, args: { dx: BufferRef } & RopeShape): void {
  launch(rt, 'ropeBackward', ROPE_BACKWARD, args.dx, args);
}
