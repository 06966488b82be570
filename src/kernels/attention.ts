// Launchers for shaders/attention.wgsl: causal multi-head attention with grouped KV heads,
// flash-attention style forward and FlashAttention-2 style backward (no S×S matrix, no atomics).
import code from '../../shaders/attention.wgsl?raw';
import { GpuLimitError } from '../gpu/errors.ts';
import type { BufferRef, DispatchCost, GpuRuntime, Program } from '../gpu/runtime.ts';
import { ceilDiv, grid1d, gridBlocks } from './grid.ts';
import { requireFloats } from './checks.ts';

/** Query and key block sizes of one kernel (rows staged in workgroup memory per step). */
export interface AttentionTiles {
  blockQ: number;
  blockK: number;
}

export interface AttentionShape {
  B: number;
  S: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
}

export interface AttentionForwardArgs extends AttentionShape {
  /** [B·S, nHeads·headDim] */
  out: BufferRef;
  /** [B·nHeads·S]: log-sum-exp of each query row's scaled scores, for the backward. */
  lse: BufferRef;
  q: BufferRef;
  k: BufferRef;
  v: BufferRef;
  /** Overrides the tile choice (tests and benchmarks); must fit this device's workgroup memory. */
  tiles?: AttentionTiles;
}

export interface AttentionBackwardArgs extends AttentionShape {
  dq: BufferRef;
  dk: BufferRef;
  dv: BufferRef;
  dOut: BufferRef;
  q: BufferRef;
  k: BufferRef;
  v: BufferRef;
  out: BufferRef;
  lse: BufferRef;
  /** Overrides the tile choice of either backward kernel (tests and benchmarks). */
  tiles?: { dkdv?: AttentionTiles; dq?: AttentionTiles };
}

/** Register accumulator slots per thread in the shader (MAX_SLOTS there). */
const MAX_SLOTS = 8;
const DELTA_WG = 64;

export type AttentionKernel = 'forward' | 'dkdv' | 'dq';

const tile = (blockQ: number, blockK: number): AttentionTiles => ({ blockQ, blockK });
/**
 * Tiles in order of preference; the first that fits the device is used. Measured on an H100
 * through Dawn (B 8, S 1024, 12 heads of 64): the forward is fastest with short key blocks
 * (32×8: 1.25 ms, 32×16: 1.37, 32×32: 2.17), because every lane of a row reads back and exps the
 * whole row of scores; dk/dv with few queries per step (8×32: 5.34 ms for the whole backward,
 * 32×32: 5.78, 32×16: 7.72); dq is flat between 32×32 and 16×16. The smaller ones fit the 16 KiB
 * floor. Blocks stay at most 32 wide: SwiftShader's compile time grows with the unrolled block
 * loops (about 4 s of CPU per kernel at 32×32, 11 s at 64×64).
 */
const TILE_CANDIDATES: Record<AttentionKernel, readonly AttentionTiles[]> = {
  forward: [tile(32, 8), tile(16, 8), tile(8, 8), tile(4, 8), tile(4, 4)],
  dkdv: [tile(8, 32), tile(8, 16), tile(8, 8), tile(4, 8), tile(4, 4)],
  dq: [tile(32, 32), tile(16, 16), tile(16, 8), tile(8, 8), tile(4, 8), tile(4, 4)],
};

/** Lanes per row: each owns headDim/4/lanes vec4 columns; 4 lanes balance exp count and registers. */
function threadsPerRow(headDim: number): number {
  const vec4s = headDim / 4;
  if (!Number.isInteger(vec4s) || vec4s < 1) {
    throw new Error(`attention: headDim ${headDim} must be a positive multiple of 4 (rows are read as vec4)`);
  }
  for (const lanes of [4, 2, 1, 8, 16, 32]) {
    if (vec4s % lanes === 0 && vec4s / lanes <= MAX_SLOTS && (lanes <= 4 || vec4s / 4 > MAX_SLOTS)) return lanes;
  }
  throw new Error(`attention: headDim ${headDim} is not supported: it needs headDim/4 split into at most ${MAX_SLOTS} vec4s per lane`);
}

/** Bytes of workgroup memory a kernel declares for these tiles (padded rows, as in the shader). */
export function workgroupBytes(kernel: AttentionKernel, headDim: number, tiles: AttentionTiles): number {
  const row = (headDim / 4 + 1) * 16;
  const { blockQ, blockK } = tiles;
  if (kernel === 'forward') return row * (blockQ + 2 * blockK) + 4 * blockQ * blockK;
  return row * (2 * blockQ + 2 * blockK) + 4 * (2 * blockQ * blockK + 2 * blockQ);
}

function threadsPerWorkgroup(kernel: AttentionKernel, headDim: number, tiles: AttentionTiles): number {
  return (kernel === 'dkdv' ? tiles.blockK : tiles.blockQ) * threadsPerRow(headDim);
}

function fits(
  kernel: AttentionKernel,
  headDim: number,
  tiles: AttentionTiles,
  limits: Pick<GPUSupportedLimits, 'maxComputeWorkgroupStorageSize' | 'maxComputeInvocationsPerWorkgroup'>,
): boolean {
  return (
    workgroupBytes(kernel, headDim, tiles) <= limits.maxComputeWorkgroupStorageSize &&
    threadsPerWorkgroup(kernel, headDim, tiles) <= limits.maxComputeInvocationsPerWorkgroup
  );
}

/** The largest preferred tiles that fit the device's workgroup memory and invocation limits. */
export function chooseTiles(
  kernel: AttentionKernel,
  headDim: number,
  limits: Pick<GPUSupportedLimits, 'maxComputeWorkgroupStorageSize' | 'maxComputeInvocationsPerWorkgroup'>,
): AttentionTiles {
  const tiles = TILE_CANDIDATES[kernel].find((t) => fits(kernel, headDim, t, limits));
  if (!tiles) {
    throw new GpuLimitError(
      `attention ${kernel}: headDim ${headDim} needs ${workgroupBytes(kernel, headDim, TILE_CANDIDATES[kernel].at(-1)!)} bytes of workgroup memory ` +
        `even with the smallest tiles; this GPU has ${limits.maxComputeWorkgroupStorageSize}. Use a smaller headDim or another GPU.`,
    );
  }
  return tiles;
}

function program(kernel: AttentionKernel, headDim: number, tiles: AttentionTiles): Program {
  const entryPoint = { forward: 'attention_forward', dkdv: 'attention_backward_dkdv', dq: 'attention_backward_dq' }[kernel];
  const bindings =
    kernel === 'forward'
      ? (['read', 'read', 'read', 'write', 'write', 'uniform'] as const)
      : (['read', 'read', 'read', 'read', 'read', 'read', 'write', 'write', 'uniform'] as const);
  return {
    name: 'attention',
    code,
    entryPoint,
    bindings,
    constants: {
      HEAD_DIM: headDim,
      BLOCK_Q: tiles.blockQ,
      BLOCK_K: tiles.blockK,
      THREADS_PER_ROW: threadsPerRow(headDim),
      // Rounded to f32 once, at pipeline creation: exact for the power-of-4 head sizes.
      SCALE: 1 / Math.sqrt(headDim),
    },
  };
}

const DELTA_PROGRAM = (headDim: number): Program => ({
  name: 'attention',
  code,
  entryPoint: 'attention_backward_delta',
  bindings: ['read', 'read', 'write', 'uniform'],
  constants: { HEAD_DIM: headDim, DELTA_WG },
});

function resolveTiles(rt: GpuRuntime, kernel: AttentionKernel, headDim: number, tiles: AttentionTiles | undefined): AttentionTiles {
  if (!tiles) return chooseTiles(kernel, headDim, rt.limits);
  if (!Number.isInteger(tiles.blockQ) || !Number.isInteger(tiles.blockK) || tiles.blockQ < 1 || tiles.blockK < 1) {
    throw new Error(`attention ${kernel}: tiles ${JSON.stringify(tiles)} must be positive integers`);
  }
  if (!fits(kernel, headDim, tiles, rt.limits)) {
    throw new GpuLimitError(
      `attention ${kernel}: tiles ${JSON.stringify(tiles)} need ${workgroupBytes(kernel, headDim, tiles)} bytes of workgroup memory and ` +
        `${threadsPerWorkgroup(kernel, headDim, tiles)} threads; this GPU allows ${rt.limits.maxComputeWorkgroupStorageSize} bytes and ` +
        `${rt.limits.maxComputeInvocationsPerWorkgroup} threads. Pick smaller tiles or leave them to chooseTiles.`,
    );
  }
  return tiles;
}

function checkShape(op: string, s: AttentionShape): void {
  for (const [name, value] of Object.entries({ B: s.B, S: s.S, nHeads: s.nHeads, nKvHeads: s.nKvHeads, headDim: s.headDim })) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`${op}: ${name} = ${value} must be a positive integer`);
  }
  if (s.nHeads % s.nKvHeads !== 0) {
    throw new Error(
      `${op}: nHeads ${s.nHeads} must be a multiple of nKvHeads ${s.nKvHeads} (each kv head serves a whole group of query heads)`,
    );
  }
  threadsPerRow(s.headDim);
}

/** Query-key pairs under the causal mask, and the bytes of q (= out) and of k (= v). */
function extent(s: AttentionShape) {
  const T = s.B * s.S;
  return {
    pairs: s.B * s.nHeads * ((s.S * (s.S + 1)) / 2),
    qBytes: 4 * T * s.nHeads * s.headDim,
    kBytes: 4 * T * s.nKvHeads * s.headDim,
    lseBytes: 4 * T * s.nHeads,
  };
}

function params(s: AttentionShape, headOffset = 0, batchOffset = 0): number[] {
  return [s.S, s.nHeads, s.nKvHeads, s.nHeads / s.nKvHeads, s.B * s.S * s.nHeads, headOffset, batchOffset];
}

/**
 * One pass over every (sequence, head) of a grid [blocks, heads, B]: one dispatch, or where it is
 * too long for one submission (GpuRuntime.slicesFor), one per block of sequences and heads, each
 * workgroup computing what it would in one dispatch.
 */
function dispatchHeads(
  rt: GpuRuntime,
  p: Program,
  buffers: readonly BufferRef[],
  shape: AttentionShape,
  grid: { blocks: number; heads: number },
  cost: Required<Omit<DispatchCost, 'shape'>>,
): void {
  const cells = shape.B * grid.heads;
  const of = `B${shape.B} S${shape.S} heads ${shape.nHeads}/${shape.nKvHeads} of ${shape.headDim}`;
  const slices = rt.slicesFor(p, { ...cost, shape: of });
  for (const b of gridBlocks(shape.B, grid.heads, Math.ceil(cells / slices))) {
    const share = (b.rows * b.cols) / cells;
    rt.dispatch(p, buffers, params(shape, b.col, b.row), [grid.blocks, b.cols, b.rows], {
      label: cost.label,
      shape: of,
      flops: cost.flops * share,
      bytes: cost.bytes * share,
    });
  }
}

/**
 * out = softmax(q·kᵀ/√headDim, causal)·v per head, query head h reading kv head
 * floor(h / (nHeads/nKvHeads)); saves lse[b, h, i] for attentionBackward.
 */
export function attentionForward(rt: GpuRuntime, args: AttentionForwardArgs): void {
  const op = 'attentionForward';
  checkShape(op, args);
  const { B, S, nHeads, nKvHeads, headDim } = args;
  const T = B * S;
  requireFloats(op, 'q', args.q, T * nHeads * headDim);
  requireFloats(op, 'out', args.out, T * nHeads * headDim);
  requireFloats(op, 'k', args.k, T * nKvHeads * headDim);
  requireFloats(op, 'v', args.v, T * nKvHeads * headDim);
  requireFloats(op, 'lse', args.lse, B * nHeads * S);
  const tiles = resolveTiles(rt, 'forward', headDim, args.tiles);
  const { pairs, qBytes, kBytes, lseBytes } = extent(args);
  // Two products of headDim per pair (scores, values).
  dispatchHeads(
    rt,
    program('forward', headDim, tiles),
    [args.q, args.k, args.v, args.out, args.lse],
    args,
    { blocks: ceilDiv(S, tiles.blockQ), heads: nHeads },
    { label: 'attention forward', flops: 4 * headDim * pairs, bytes: 2 * qBytes + 2 * kBytes + lseBytes },
  );
}

/**
 * Overwrites dq, dk, dv with the gradients of attentionForward given dOut. Three passes:
 * delta = rowsum(dOut ∘ out); dk/dv per key block (summing the kv head's whole query group);
 * dq per query block. Uses a pooled scratch buffer of B·nHeads·S floats for delta.
 */
export function attentionBackward(rt: GpuRuntime, args: AttentionBackwardArgs): void {
  const op = 'attentionBackward';
  checkShape(op, args);
  const { B, S, nHeads, nKvHeads, headDim } = args;
  const T = B * S;
  for (const name of ['dq', 'dOut', 'q', 'out'] as const) requireFloats(op, name, args[name], T * nHeads * headDim);
  for (const name of ['dk', 'dv', 'k', 'v'] as const) requireFloats(op, name, args[name], T * nKvHeads * headDim);
  requireFloats(op, 'lse', args.lse, B * nHeads * S);
  const dkdvTiles = resolveTiles(rt, 'dkdv', headDim, args.tiles?.dkdv);
  const dqTiles = resolveTiles(rt, 'dq', headDim, args.tiles?.dq);

  const delta = rt.acquire(B * nHeads * S * 4, 'attention-delta');
  const uniforms = params(args);
  const { pairs, qBytes, kBytes, lseBytes } = extent(args);
  rt.dispatch(DELTA_PROGRAM(headDim), [args.dOut, args.out, delta], uniforms, grid1d(rt, T * nHeads, DELTA_WG), {
    label: 'attention backward delta',
    flops: 2 * T * nHeads * headDim,
    bytes: 2 * qBytes + lseBytes,
  });
  const inputs = [args.q, args.k, args.v, args.dOut, args.lse, delta];
  // dk/dv recomputes the scores and dP and forms dv and dk: four products of headDim per pair.
  dispatchHeads(
    rt,
    program('dkdv', headDim, dkdvTiles),
    [...inputs, args.dk, args.dv],
    args,
    { blocks: ceilDiv(S, dkdvTiles.blockK), heads: nKvHeads },
    { label: 'attention backward dk dv', flops: 8 * headDim * pairs, bytes: 2 * qBytes + 4 * kBytes + 2 * lseBytes },
  );
  // The dq kernel leaves its second gradient binding untouched; dv fills the shared layout.
  dispatchHeads(
    rt,
    program('dq', headDim, dqTiles),
    [...inputs, args.dq, args.dv],
    args,
    { blocks: ceilDiv(S, dqTiles.blockQ), heads: nHeads },
    { label: 'attention backward dq', flops: 6 * headDim * pairs, bytes: 3 * qBytes + 2 * kBytes + 2 * lseBytes },
  );
  // Queue order keeps the reads above ahead of any later reuse of the pooled scratch buffer.
  rt.release(delta);
}
