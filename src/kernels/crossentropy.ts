// Launchers for shaders/crossentropy.wgsl: the fused softmax + cross-entropy loss (and its
// backward, in place over the logits) and the mean loss, kept on the GPU until someone reads it.
import code from '../../shaders/crossentropy.wgsl?raw';
import type { BufferRef, GpuRuntime, Program } from '../gpu/runtime.ts';
import { grid1d } from './grid.ts';
import { requireCount, requireFloats } from './checks.ts';
import { reducingProgram } from './reduce.ts';

/** A target equal to this marks a position that does not count: loss 0, gradient 0. */
export const IGNORE_INDEX = 0xffffffff;

/**
 * The softmax_crossentropy variant with `threads` threads a row (a power of two, 32..256; the
 * tree reduction needs a power of two).
 */
function softmaxCrossEntropyProgram(rt: GpuRuntime, threads: number, subgroups = rt.subgroups): Program {
  const program: Program = {
    name: 'softmax_crossentropy',
    code,
    entryPoint: 'softmax_crossentropy',
    bindings: ['write', 'read', 'write', 'uniform'],
    constants: { WG: threads },
  };
  return reducingProgram(rt, program, subgroups);
}

/**
 * Threads a row for a vocabulary of V: enough for ~64 logits each, between 32 and 256. A mostly
 * idle 256-thread workgroup with its eight barriers costs far more than a short row itself on
 * software adapters (measured on SwiftShader on a busy 2-core machine, T = 256: V = 256 in 39 ms with 32 threads versus
 * 1354 ms with 256), while V ≥ 16384 (GPT-2's 50257) still gets 256 threads a row.
 */
export function threadsPerRow(V: number): number {
  let threads = 32;
  while (threads < 256 && threads * 64 < V) threads *= 2;
  return threads;
}

function meanLossProgram(rt: GpuRuntime, subgroups = rt.subgroups): Program {
  return reducingProgram(
    rt,
    { name: 'mean_loss', code, entryPoint: 'mean_loss', bindings: ['read', 'read', 'write', 'uniform'], constants: { WG: 256 } },
    subgroups,
  );
}

export interface SoftmaxCrossEntropyArgs {
  /** [T, V] f32. Overwritten with dlogits when gradScale is given, left untouched otherwise. */
  logits: BufferRef;
  /** [T] u32 token ids; IGNORE_INDEX skips a position. */
  targets: BufferRef;
  /** [T] f32, written: logsumexp(logits[t]) − logits[t, targets[t]] (0 where ignored). */
  losses: BufferRef;
  T: number;
  V: number;
  /**
   * When given, logits[t] becomes (softmax(logits[t]) − onehot(targets[t]))·gradScale: the
   * gradient of gradScale·Σ losses. Use 1 / (number of non-ignored positions) for a mean loss.
   */
  gradScale?: number;
}

/**
 * Per-row cross-entropy of softmax(logits) against targets, optionally fused with its backward.
 * A target ≥ V that is not IGNORE_INDEX gives a NaN loss and a zero gradient row.
 */
export function softmaxCrossEntropy(rt: GpuRuntime, args: SoftmaxCrossEntropyArgs): void {
  const { logits, targets, losses, T, V, gradScale } = args;
  requireCount('softmaxCrossEntropy', 'T', T);
  requireCount('softmaxCrossEntropy', 'V', V);
  if (T * V >= 2 ** 32) {
    throw new Error(`softmaxCrossEntropy: T·V = ${T * V} logits do not fit 32-bit indexing; split the rows into several calls.`);
  }
  if (gradScale !== undefined && !Number.isFinite(gradScale)) {
    throw new Error(`softmaxCrossEntropy: gradScale must be a finite number, got ${gradScale}`);
  }
  requireFloats('softmaxCrossEntropy', 'logits', logits, T * V);
  requireFloats('softmaxCrossEntropy', 'targets', targets, T);
  requireFloats('softmaxCrossEntropy', 'losses', losses, T);
  const uniforms = new ArrayBuffer(20);
  new Uint32Array(uniforms, 0, 2).set([T, V]);
  new Float32Array(uniforms, 8, 1)[0] = gradScale ?? 0;
  new Uint32Array(uniforms, 12, 1)[0] = gradScale === undefined ? 0 : 1;
  const cost = (rows: number) => ({
    shape: `${T}×${V}`,
    flops: (gradScale === undefined ? 3 : 6) * rows * V,
    bytes: 4 * ((gradScale === undefined ? 1 : 3) * rows * V + 2 * rows),
  });
  // Rows too long for one submission go out as several dispatches, each row computed alike.
  const program = softmaxCrossEntropyProgram(rt, threadsPerRow(V));
  const rowsPerSlice = Math.ceil(T / rt.slicesFor(program, cost(T)));
  for (let row = 0; row < T; row += rowsPerSlice) {
    const rows = Math.min(rowsPerSlice, T - row);
    new Uint32Array(uniforms, 16, 1)[0] = row;
    rt.dispatch(program, [logits, targets, losses], new Uint8Array(uniforms), grid1d(rt, rows, 1), cost(rows));
  }
}

export interface MeanLossArgs {
  /** [1] f32, written: the mean of losses over non-ignored positions (0 if all are ignored). */
  out: BufferRef;
  losses: BufferRef;
  targets: BufferRef;
  T: number;
}

/** Averages the per-row losses on the GPU, so logging the loss reads back one float, not T. */
export function meanLoss(rt: GpuRuntime, args: MeanLossArgs): void {
  const { out, losses, targets, T } = args;
  requireCount('meanLoss', 'T', T);
  requireFloats('meanLoss', 'out', out, 1);
  requireFloats('meanLoss', 'losses', losses, T);
  requireFloats('meanLoss', 'targets', targets, T);
  rt.dispatch(meanLossProgram(rt), [losses, targets, out], [T], [1], { bytes: 8 * T });
}
