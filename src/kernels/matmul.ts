// Launcher for shaders/matmul.wgsl: out[M,N] (+)= op(a)·op(b), the NN / NT / TN products of the
// model's linear layers. Picks the tile size, the bounds-check-free fast path and split-K from the
// shape, checks shapes and buffer sizes, and splits grids larger than the device allows.
import body from '../../shaders/matmul.wgsl?raw';
import inputsF32 from '../../shaders/matmul-inputs-f32.wgsl?raw';
import inputsF16 from '../../shaders/matmul-inputs-f16.wgsl?raw';
import { halfBytes } from './cast.ts';
import { GpuLimitError } from '../gpu/errors.ts';
import { refBytes, type BufferRef, type GpuRuntime, type Program } from '../gpu/runtime.ts';
import { ceilDiv, grid1d, gridBlocks } from './grid.ts';

export interface MatmulArgs {
  out: BufferRef;
  a: BufferRef;
  b: BufferRef;
  M: number;
  N: number;
  K: number;
  /** `a` is stored [K,M] and used transposed. */
  transA?: boolean;
  /** `b` is stored [N,K] and used transposed (y = x·Wᵀ with W [out,in]). */
  transB?: boolean;
  /** out += product instead of out = product. */
  accumulate?: boolean;
  /** `a` and `b` hold f16 packed in pairs (castToHalf); the product is still summed and written in f32. */
  half?: boolean;
}

const code = `${inputsF32}\n${body}`;
const codeHalfInputs = `${inputsF16}\n${body}`;

/**
 * Workgroup tile configurations: `side`×`side` threads, each computing 8×8 outputs, so the
 * output tile is 8·side square and K advances `side` at a time.
 * - large: 128×128 tiles, 256 threads; the faster one once there are enough tiles to fill a
 *   big GPU (32–33 TFLOP/s on an H100 for 8192×3072×768 and 4096³, about half its FP32 peak).
 * - small: 64×64 tiles, 64 threads; four times the workgroups for the small shapes of the tiny
 *   presets, and 4 KiB of workgroup memory instead of 16 KiB.
 */
export const MATMUL_TILES = {
  small: { side: 8, tile: 64, k: 8 },
  large: { side: 16, tile: 128, k: 16 },
} as const;
export type MatmulTile = keyof typeof MATMUL_TILES;

/**
 * Below this many 128×128 output tiles the small tile's extra parallelism wins: on an H100
 * (132 SMs) the 3072×768 weight gradient (144 large tiles, one ragged wave) ran at 22 TFLOP/s
 * with small tiles against 19 with large, while 8192×768 (384 large tiles) ran at 31 against 29.
 */
const LARGE_TILE_MIN_TILES = 256;

/**
 * Split-K: a product with few output tiles and a long K (the weight gradients, K = tokens) leaves
 * most of a big GPU idle; cutting K into slices multiplies the workgroups. Slices are added to
 * reach about this many workgroups (the forward products that run at 43–49% of an H100's FP32 peak
 * have 1,536 small tiles; the 768×768 weight gradient, 144 tiles, ran at 17%)...
 */
const SPLIT_K_TARGET_WORKGROUPS = 1024;
/** ...while each slice keeps at least this much K, so the extra partial-sum traffic (splits·M·N
 * written and read again) stays small beside the product's own. */
const SPLIT_K_MIN_CHUNK = 512;

export interface MatmulVariant {
  tile: MatmulTile;
  transA: boolean;
  transB: boolean;
  /** Bounds checks on every load and store; false only when the tile divides M, N and K. */
  checked: boolean;
  /** f16 operands (packed pairs); absent means f32. */
  half?: boolean;
}

/** The pipeline for one variant (all variants share one WGSL entry point; override constants differ). */
export function matmulProgram(v: MatmulVariant): Program {
  return {
    name: v.half ? 'matmul-f16' : 'matmul',
    code: v.half ? codeHalfInputs : code,
    entryPoint: 'matmul',
    bindings: ['read', 'read', 'write', 'uniform'],
    constants: {
      S: MATMUL_TILES[v.tile].side,
      TRANS_A: v.transA ? 1 : 0,
      TRANS_B: v.transB ? 1 : 0,
      CHECKED: v.checked ? 1 : 0,
    },
  };
}

/** Every variant, for `rt.compileAll` ahead of a hot loop (16 pipelines and the split-K reduction). */
export function matmulPrograms(): Program[] {
  const programs: Program[] = [MATMUL_SPLITK_REDUCE];
  for (const tile of Object.keys(MATMUL_TILES) as MatmulTile[]) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        for (const checked of [false, true]) programs.push(matmulProgram({ tile, transA, transB, checked }));
      }
    }
  }
  return programs;
}

/** One dispatch of a plan: a block of the tile grid starting at (rowTile, colTile). */
export interface MatmulDispatch {
  rowTileOffset: number;
  colTileOffset: number;
  rowTiles: number;
  colTiles: number;
  /** Only these split-K slices (a tile too long for one submission); absent: all of them. */
  kSlices?: { offset: number; count: number };
}

export interface MatmulPlan {
  /** The product this plan was made for. */
  shape: { M: number; N: number; K: number };
  variant: MatmulVariant;
  dispatches: MatmulDispatch[];
  /** Slices of K (1: not split) and the K of each but the last (a multiple of the tile's K step). */
  splits: number;
  kChunk: number;
}

/** Slices of K for a product: 1 unless the output has too few tiles to fill a GPU and K is long. */
export function chooseSplitK(M: number, N: number, K: number, tile: MatmulTile = chooseMatmulTile(M, N)): number {
  const size = MATMUL_TILES[tile].tile;
  const tiles = ceilDiv(M, size) * ceilDiv(N, size);
  const splits = Math.min(Math.floor(SPLIT_K_TARGET_WORKGROUPS / tiles), Math.floor(K / SPLIT_K_MIN_CHUNK));
  return Math.max(1, splits);
}

export const MATMUL_SPLITK_REDUCE: Program = {
  name: 'matmul_splitk_reduce',
  code,
  entryPoint: 'matmul_splitk_reduce',
  bindings: ['read', 'write', 'uniform'],
};
const REDUCE_WG = 256;

/**
 * The profile's name for a product: the operand layout and the role it has in the model
 * (NT: y = x·Wᵀ, the forward; NN: dX = dY·W, input gradients; TN: dW = dYᵀ·X, weight gradients).
 */
function matmulLabel(v: Pick<MatmulVariant, 'transA' | 'transB'>): string {
  const layout = `${v.transA ? 'T' : 'N'}${v.transB ? 'T' : 'N'}`;
  const role = { NT: 'forward', NN: 'grad input', TN: 'grad weight', TT: '' }[layout as 'NT'];
  return role ? `matmul ${layout} (${role})` : `matmul ${layout}`;
}

/** The profile's label for a plan's products (and the submission budget's name for their rate). */
function planLabel(plan: MatmulPlan): string {
  return `${matmulLabel(plan.variant)}${plan.variant.half ? ' f16' : ''}${plan.splits > 1 ? ' split-K' : ''}`;
}

/** A plan's product for the submission budget, which learns a rate per kernel and shape. */
function matmulShape(plan: MatmulPlan): string {
  return `${plan.shape.M}×${plan.shape.N}×${plan.shape.K}`;
}

/** Floating-point operations of one M×N×K product (one multiply and one add per term). */
export function matmulFlops(M: number, N: number, K: number): number {
  return 2 * M * N * K;
}

/** FLOPs and minimum bytes of a rows×cols block of a product that writes (or reads and writes) its output `outputPasses` times. */
function matmulCost(rows: number, cols: number, K: number, half: boolean, outputPasses: number): { flops: number; bytes: number } {
  const operand = half ? 2 : 4;
  return { flops: matmulFlops(rows, cols, K), bytes: operand * (rows * K + K * cols) + 4 * rows * cols * outputPasses };
}

/** The tile the launcher uses for a shape (exposed so tests and benchmarks can force the other). */
function chooseMatmulTile(M: number, N: number): MatmulTile {
  const large = MATMUL_TILES.large.tile;
  return ceilDiv(M, large) * ceilDiv(N, large) >= LARGE_TILE_MIN_TILES ? 'large' : 'small';
}

/**
 * The variant and dispatches for a product. Grids wider or taller than
 * `maxWorkgroupsPerDimension`, or with more than `maxCellsPerDispatch` (output tile, split-K
 * slice) pairs (a product too long for one submission, see GpuRuntime.slicesFor), become several
 * dispatches, each shifted by a tile offset: whole rows of tiles while they fit, else parts of one
 * row, else one tile's split-K slices in parts. Every (tile, slice) is computed by the same code
 * over the same K order whichever dispatch runs it, so the result is the same bits.
 */
export function planMatmul(
  shape: { M: number; N: number; K: number; transA?: boolean; transB?: boolean; half?: boolean },
  maxWorkgroupsPerDimension: number,
  tile: MatmulTile = chooseMatmulTile(shape.M, shape.N),
  splitK: number = chooseSplitK(shape.M, shape.N, shape.K, tile),
  maxCellsPerDispatch = Infinity,
): MatmulPlan {
  const { M, N, K } = shape;
  for (const [name, value] of [
    ['M', M],
    ['N', N],
    ['K', K],
  ] as const) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`matmul: ${name} must be a positive integer, got ${value}`);
  }
  const { tile: size, k: kStep } = MATMUL_TILES[tile];
  const checked = M % size !== 0 || N % size !== 0 || K % kStep !== 0;
  const rowTiles = ceilDiv(M, size);
  const colTiles = ceilDiv(N, size);
  if (!Number.isInteger(splitK) || splitK < 1 || splitK > maxWorkgroupsPerDimension) {
    throw new Error(`matmul: splitK must be an integer in [1, ${maxWorkgroupsPerDimension}], got ${splitK}`);
  }
  // Whole K steps per slice; the slice count then follows from the rounded chunk.
  const kChunk = ceilDiv(ceilDiv(K, splitK), kStep) * kStep;
  const splits = ceilDiv(K, kChunk);
  if (!(maxCellsPerDispatch >= 1)) throw new Error(`matmul: maxCellsPerDispatch must be at least 1, got ${maxCellsPerDispatch}`);
  const dispatches: MatmulDispatch[] = [];
  if (maxCellsPerDispatch >= splits) {
    for (const b of gridBlocks(rowTiles, colTiles, Math.floor(maxCellsPerDispatch / splits), maxWorkgroupsPerDimension)) {
      dispatches.push({ rowTileOffset: b.row, colTileOffset: b.col, rowTiles: b.rows, colTiles: b.cols });
    }
  } else {
    const count = Math.floor(maxCellsPerDispatch);
    for (const b of gridBlocks(rowTiles, colTiles, 1)) {
      for (let offset = 0; offset < splits; offset += count) {
        dispatches.push({
          rowTileOffset: b.row,
          colTileOffset: b.col,
          rowTiles: 1,
          colTiles: 1,
          kSlices: { offset, count: Math.min(count, splits - offset) },
        });
      }
    }
  }
  const variant: MatmulVariant = {
    tile,
    transA: shape.transA ?? false,
    transB: shape.transB ?? false,
    checked,
    ...(shape.half ? { half: true } : {}),
  };
  return { shape: { M, N, K }, variant, dispatches, splits, kChunk };
}

function bufferOf(ref: BufferRef): GPUBuffer {
  return 'buffer' in ref ? ref.buffer : ref;
}

function offsetOf(ref: BufferRef): number {
  return 'buffer' in ref ? ref.offset : 0;
}

function checkOperands(rt: GpuRuntime, args: MatmulArgs): void {
  const { M, N, K } = args;
  const operandBytes = args.half ? halfBytes : (n: number) => n * 4;
  const needs: [string, BufferRef, number, number, string][] = [
    ['out', args.out, M * N, M * N * 4, `[${M},${N}]`],
    ['a', args.a, M * K, operandBytes(M * K), args.transA ? `[${K},${M}] (transA)` : `[${M},${K}]`],
    ['b', args.b, K * N, operandBytes(K * N), args.transB ? `[${N},${K}] (transB)` : `[${K},${N}]`],
  ];
  const maxBinding = rt.limits.maxStorageBufferBindingSize;
  for (const [name, ref, elements, needed, shape] of needs) {
    const bytes = refBytes(ref);
    if (bytes < needed) {
      const unit = name !== 'out' && args.half ? 'f16 values packed in pairs' : 'floats';
      throw new Error(
        `matmul: ${name} is ${shape}, ${elements} ${unit} (${needed} bytes), but its buffer holds only ${bytes} bytes; pass a larger buffer or fix M/N/K.`,
      );
    }
    if (bytes > maxBinding) {
      throw new GpuLimitError(
        `matmul: ${name} binds ${bytes} bytes, over this GPU's maxStorageBufferBindingSize ${maxBinding}; bind a slice of at most that size or split the product.`,
      );
    }
    if (offsetOf(ref) % 256 !== 0) throw new Error(`matmul: ${name} slice offset ${offsetOf(ref)} is not a multiple of 256 bytes.`);
  }
  for (const [name, ref] of [
    ['a', args.a],
    ['b', args.b],
  ] as const) {
    if (bufferOf(ref) === bufferOf(args.out)) {
      // WebGPU validates usage per buffer, not per range: even disjoint slices conflict.
      throw new Error(
        `matmul: out and ${name} are slices of the same GPUBuffer, which WebGPU forbids in one dispatch (writable and read-only); put the output in a separate buffer.`,
      );
    }
  }
}

/** Records a planned product (see planMatmul); matmul() is this with the default plan. */
export function runMatmulPlan(rt: GpuRuntime, plan: MatmulPlan, args: MatmulArgs): void {
  const { shape, variant } = plan;
  if ((variant.half ?? false) !== (args.half ?? false)) {
    throw new Error(
      `matmul: plan made for ${variant.half ? 'f16' : 'f32'} operands used with ${args.half ? 'f16' : 'f32'} ones; call planMatmul with these arguments.`,
    );
  }
  if (
    shape.M !== args.M ||
    shape.N !== args.N ||
    shape.K !== args.K ||
    variant.transA !== (args.transA ?? false) ||
    variant.transB !== (args.transB ?? false)
  ) {
    throw new Error(
      `matmul: plan made for ${shape.M}x${shape.N}x${shape.K} (transA ${variant.transA}, transB ${variant.transB}) used for ${args.M}x${args.N}x${args.K} (transA ${args.transA ?? false}, transB ${args.transB ?? false}); call planMatmul with these arguments.`,
    );
  }
  checkOperands(rt, args);
  const { M, N, K } = args;
  const program = matmulProgram(plan.variant);
  const { splits, kChunk } = plan;
  const accumulate = args.accumulate ? 1 : 0;
  const label = planLabel(plan);
  const size = MATMUL_TILES[variant.tile].tile;
  // Split: the slices write partial products [splits, M, N] to scratch, reduced in order below.
  const partials = splits > 1 ? rt.acquire(splits * M * N * 4, 'matmul-splitk-partials') : null;
  if (partials && partials.size > rt.limits.maxStorageBufferBindingSize) {
    throw new GpuLimitError(
      `matmul: ${splits} split-K partials of [${M},${N}] exceed maxStorageBufferBindingSize ${rt.limits.maxStorageBufferBindingSize}; plan fewer splits.`,
    );
  }
  const target = partials ?? args.out;
  const writesAccumulate = partials ? 0 : accumulate;
  for (const d of plan.dispatches) {
    const rows = Math.min(M - d.rowTileOffset * size, d.rowTiles * size);
    const cols = Math.min(N - d.colTileOffset * size, d.colTiles * size);
    const { offset, count } = d.kSlices ?? { offset: 0, count: splits };
    const k = Math.min(K, (offset + count) * kChunk) - offset * kChunk;
    const cost = { label, shape: matmulShape(plan), ...matmulCost(rows, cols, k, args.half ?? false, count + writesAccumulate) };
    const uniforms = [M, N, K, writesAccumulate, d.rowTileOffset, d.colTileOffset, kChunk, M * N, offset];
    rt.dispatch(program, [args.a, args.b, target], uniforms, [d.colTiles, d.rowTiles, count], cost);
  }
  if (partials) {
    const n = M * N;
    rt.dispatch(MATMUL_SPLITK_REDUCE, [partials, args.out], [n, splits, accumulate], grid1d(rt, n, REDUCE_WG), {
      label: 'matmul split-K reduce',
      shape: matmulShape(plan),
      flops: splits * n,
      bytes: 4 * n * (splits + 1 + accumulate),
    });
    // Queue order keeps the reads above ahead of any later reuse of the pooled scratch.
    rt.release(partials);
  }
}

/**
 * out[M,N] = op(a)·op(b), or out += op(a)·op(b) with `accumulate`. `a` is [M,K] ([K,M] with
 * transA), `b` is [K,N] ([N,K] with transB), all row-major f32. `out` must be a different
 * GPUBuffer from `a` and `b`.
 */
export function matmul(rt: GpuRuntime, args: MatmulArgs): void {
  const maxGroups = rt.limits.maxComputeWorkgroupsPerDimension;
  const plan = planMatmul(args, maxGroups);
  // A product too long for one submission runs as several dispatches over blocks of its tiles.
  const cost = { label: planLabel(plan), shape: matmulShape(plan), ...matmulCost(args.M, args.N, args.K, args.half ?? false, plan.splits) };
  const slices = rt.slicesFor(matmulProgram(plan.variant), cost);
  if (slices === 1) return runMatmulPlan(rt, plan, args);
  const cells = plan.dispatches.reduce((n, d) => n + d.rowTiles * d.colTiles, 0) * plan.splits;
  const sliced = planMatmul(args, maxGroups, plan.variant.tile, plan.splits, Math.ceil(cells / slices));
  runMatmulPlan(rt, sliced, args);
}
