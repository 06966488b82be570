// Launchers for shaders/rmsnorm.wgsl: Hugging Face LlamaRMSNorm forward (saving rstd) and its
// backward, which accumulates into dx and into dWeight through a deterministic two-pass reduction
// whose first pass is fused with dx (dOut and x are read once).
import code from '../../shaders/rmsnorm.wgsl?raw';
import { GpuLimitError } from '../gpu/errors.ts';
import type { BufferRef, GpuRuntime, Program } from '../gpu/runtime.ts';
import { grid1d } from './grid.ts';
import { reducingProgram } from './reduce.ts';
import { requireBytes, requireCount } from './checks.ts';

/**
 * Threads per row (forward, backward) for C channels: a power of two for the tree reduction, about
 * 16 channels each, between 8 and 64. 64 keeps C = 768 at 12 channels per thread on real GPUs;
 * SwiftShader switches every invocation at each barrier (it ran a 64-wide row 5-14× faster than a
 * 256-wide one here), so tiny's C = 64 gets 8 threads and a 3-step tree instead of 6.
 */
export function rmsnormThreads(C: number): number {
  let threads = 8;
  while (threads < 64 && threads * 16 < C) threads *= 2;
  return threads;
}
/** Channels per workgroup of the second dWeight pass (one thread each). */
const REDUCE_WG = 64;
/**
 * Rows of one backward workgroup (its dx rows and its dWeight partial). 16 keeps the partials small
 * (T/16 rows of C: 1.5 MiB for T = 8192, C = 768, against 50 MiB of dOut and x) while giving that
 * shape 512 workgroups; it grows only when T/16 chunks would exceed the dispatch limit.
 */
const ROWS_PER_CHUNK = 16;

function program(entryPoint: string, bindings: Program['bindings'], WG: number): Program {
  return { name: entryPoint, code, entryPoint, bindings, constants: { WG } };
}

/** The forward for C channels, its reduction in the variant `subgroups` picks (the runtime's by default). */
function rmsnormForwardProgram(rt: GpuRuntime, C: number, subgroups = rt.subgroups): Program {
  return reducingProgram(rt, program('rmsnorm_forward', ['read', 'read', 'write', 'write', 'uniform'], rmsnormThreads(C)), subgroups);
}
/** The fused dx + dWeight-partial pass for C channels (its workgroup memory holds C sums). */
function rmsnormBackwardProgram(rt: GpuRuntime, C: number, subgroups = rt.subgroups): Program {
  const base = program('rmsnorm_backward', ['read', 'read', 'read', 'read', 'write', 'write', 'uniform'], rmsnormThreads(C));
  return reducingProgram(rt, { ...base, constants: { ...base.constants, MAX_C: C } }, subgroups);
}
/** The second dWeight pass (no workgroup reduction: the plain variant of the module serves every runtime). */
function dweightReduceProgram(rt: GpuRuntime): Program {
  return reducingProgram(rt, program('rmsnorm_backward_dweight_reduce', ['read', 'write', 'uniform'], REDUCE_WG), false);
}

/** The programs of a model with C channels. */
export function rmsnormPrograms(rt: GpuRuntime, C: number, subgroups = rt.subgroups): Program[] {
  return [rmsnormForwardProgram(rt, C, subgroups), rmsnormBackwardProgram(rt, C, subgroups), dweightReduceProgram(rt)];
}

/** The shader's Params block {T, C, eps, rowsPerChunk}: u32s with one f32 in the middle. */
function params(T: number, C: number, eps: number, rowsPerChunk: number): Uint32Array {
  const words = new Uint32Array([T, C, 0, rowsPerChunk]);
  new Float32Array(words.buffer)[2] = eps;
  return words;
}

/** One workgroup per row, folded into a 2-D grid when T exceeds the per-dimension limit. */
function rowGrid(rt: GpuRuntime, T: number): [number, number] {
  return grid1d(rt, T, 1);
}

/** rstd[t] = 1/sqrt(mean(x[t]²) + eps); out[t, c] = x[t, c]·rstd[t]·weight[c]. x, out: [T, C]. */
export function rmsnormForward(
  rt: GpuRuntime,
  args: { out: BufferRef; rstd: BufferRef; x: BufferRef; weight: BufferRef; T: number; C: number; eps: number },
): void {
  const { out, rstd, x, weight, T, C, eps } = args;
  const op = 'rmsnormForward';
  requireCount(op, 'T', T);
  requireCount(op, 'C', C);
  if (!(eps > 0)) throw new Error(`${op}: eps must be positive (LLaMA uses 1e-5 or 1e-6), got ${eps}`);
  requireBytes(op, 'x', x, T * C * 4, `[T=${T}, C=${C}] f32`);
  requireBytes(op, 'out', out, T * C * 4, `[T=${T}, C=${C}] f32`);
  requireBytes(op, 'weight', weight, C * 4, `C=${C} f32`);
  requireBytes(op, 'rstd', rstd, T * 4, `T=${T} f32`);
  rt.dispatch(rmsnormForwardProgram(rt, C), [x, weight, out, rstd], params(T, C, eps, 0), rowGrid(rt, T), {
    flops: 4 * T * C,
    bytes: 4 * (2 * T * C + C + T),
  });
}

/**
 * dx += ∂L/∂x and dWeight += ∂L/∂weight for out = x·rstd·weight, given dOut and the forward's
 * saved rstd. Both gradients accumulate; dWeight is reduced over T in two passes (no atomics).
 */
export function rmsnormBackward(
  rt: GpuRuntime,
  args: { dx: BufferRef; dWeight: BufferRef; dOut: BufferRef; x: BufferRef; weight: BufferRef; rstd: BufferRef; T: number; C: number },
): void {
  const { dx, dWeight, dOut, x, weight, rstd, T, C } = args;
  const op = 'rmsnormBackward';
  requireCount(op, 'T', T);
  requireCount(op, 'C', C);
  for (const [name, ref] of [
    ['dx', dx],
    ['dOut', dOut],
    ['x', x],
  ] as const)
    requireBytes(op, name, ref, T * C * 4, `[T=${T}, C=${C}] f32`);
  requireBytes(op, 'weight', weight, C * 4, `C=${C} f32`);
  requireBytes(op, 'dWeight', dWeight, C * 4, `C=${C} f32`);
  requireBytes(op, 'rstd', rstd, T * 4, `T=${T} f32`);

  const sharedBytes = 4 * (C + rmsnormThreads(C));
  if (sharedBytes > rt.limits.maxComputeWorkgroupStorageSize) {
    throw new GpuLimitError(
      `${op}: C = ${C} needs ${sharedBytes} bytes of workgroup memory; this GPU has ${rt.limits.maxComputeWorkgroupStorageSize}.`,
    );
  }
  const rowsPerChunk = Math.max(ROWS_PER_CHUNK, Math.ceil(T / rt.limits.maxComputeWorkgroupsPerDimension));
  const chunks = Math.ceil(T / rowsPerChunk);
  const partials = rt.acquire(chunks * C * 4, 'rmsnorm-dweight-partials');
  rt.dispatch(rmsnormBackwardProgram(rt, C), [dOut, x, weight, rstd, dx, partials], params(T, C, 0, rowsPerChunk), [chunks], {
    flops: 11 * T * C,
    bytes: 4 * (4 * T * C + C + T + chunks * C),
  });
  rt.dispatch(dweightReduceProgram(rt), [partials, dWeight], [C, chunks], [Math.ceil(C / REDUCE_WG)], {
    flops: chunks * C,
    bytes: 4 * (chunks * C + 2 * C),
  });
  // Queue order makes the pool's reuse of this scratch by later work safe.
  rt.release(partials);
}
