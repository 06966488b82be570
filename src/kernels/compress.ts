// Launcher for shaders/compress.wgsl: SparseLoCo's compressor on the GPU, bit-identical to the CPU
// compressor in src/sparseloco/compress.ts. Many tensors, in one or more buffers (e.g. parameter
// arenas), are compressed in one submit: ef_select (a workgroup per chunk), quantize (a workgroup
// per tensor), pack; then one readback of only the selected entries (2-byte index + 1-byte code
// each, k per chunk) and 6 floats of parameters per tensor. The dense error tensor never leaves
// the GPU; it is updated in place (e ← β·e + Δ − decoded). How a tensor is cut into chunks is the
// caller's (src/sparseloco/chunking.ts); this launcher takes the cut as numbers, and
// src/sparseloco/gpu-compress.ts adapts it to shapes and layouts.
import code from '../../shaders/compress.wgsl?raw';
import { GpuLimitError } from '../gpu/errors.ts';
import { alignTo, type BufferRef, type GpuRuntime, type Program } from '../gpu/runtime.ts';
import { grid1d } from './grid.ts';

const BINDINGS = ['read', 'read', 'write', 'write', 'write', 'write', 'write', 'uniform'] as const;
const WORKGROUP = 256;
const TABLE_STRIDE = 10;
const PARAM_WORDS = 6;
/** The largest chunk a workgroup selects from: WG · PER_THREAD in shaders/compress.wgsl (a 64 × 64 tile). */
const MAX_GPU_CHUNK_SIZE = 4096;

const COMPRESS_EF_SELECT: Program = { name: 'compress', code, entryPoint: 'ef_select', bindings: BINDINGS };
const COMPRESS_QUANTIZE: Program = { name: 'compress', code, entryPoint: 'quantize', bindings: BINDINGS };
export const COMPRESS_PACK: Program = { name: 'compress', code, entryPoint: 'pack', bindings: BINDINGS };
/** Everything compressChunksOnGpu dispatches (for rt.compileAll before a round). */
export const COMPRESS_PROGRAMS: readonly Program[] = [COMPRESS_EF_SELECT, COMPRESS_QUANTIZE, COMPRESS_PACK];

/**
 * How a tensor is cut into chunks: the tensor as a rows × cols matrix tiled into
 * chunkRows × chunkCols blocks numbered row-major, k entries kept per chunk.
 * src/sparseloco/chunking.ts's ChunkGeometry extends it.
 */
export interface ChunkTiling {
  rows: number;
  cols: number;
  chunkRows: number;
  chunkCols: number;
  /** cols / chunkCols. */
  blocksPerRow: number;
  numChunks: number;
  /** chunkRows · chunkCols. */
  chunkSize: number;
  k: number;
}

/** One tensor of a group: where it starts (in floats, relative to the bound ranges) and how it is cut. */
export interface TiledTensor {
  offset: number;
  tiling: ChunkTiling;
}

/** One buffer of error-feedback state (e.g. a parameter arena) and the tensors in it. */
export interface TiledCompressGroup {
  /** f32 error feedback, updated in place. */
  error: BufferRef;
  /** f32 pseudo-gradient Δ laid out like `error` (a different buffer), or null for Δ = 0. */
  delta: BufferRef | null;
  tensors: readonly TiledTensor[];
}

/** One tensor's selection as the GPU returns it (src/sparseloco names it CompressedTensor). */
export interface GpuCompressedTensor {
  numChunks: number;
  chunkSize: number;
  k: number;
  /** numChunks·k in-chunk indices, ascending within each chunk. */
  indices: Uint16Array;
  /** numChunks·k 2-bit codes 0..3, aligned with `indices`. */
  codes: Uint8Array;
  /** f32 quantization parameters: shift = mean, scale = 6·std/4. */
  shift: number;
  scale: number;
  /** 4 entries: the mean of the centred values that fell in each bin. */
  lookup: Float32Array;
}

interface PlannedTensor {
  tiling: ChunkTiling;
  selBase: number;
}

function bindingBytes(ref: BufferRef): number {
  return ref.size;
}

function underlyingBuffer(ref: BufferRef): GPUBuffer {
  return 'buffer' in ref ? ref.buffer : ref;
}

/** Why a tiling cannot be what the shader expects, or null when it can. */
function tilingError(t: ChunkTiling): string | null {
  const positive = [t.rows, t.cols, t.chunkRows, t.chunkCols, t.k].every((n) => Number.isInteger(n) && n > 0);
  if (!positive) return 'sides and k must be positive integers';
  if (t.rows % t.chunkRows !== 0 || t.cols % t.chunkCols !== 0) return 'the chunks must tile the tensor exactly';
  if (t.blocksPerRow !== t.cols / t.chunkCols || t.numChunks !== (t.rows / t.chunkRows) * t.blocksPerRow)
    return 'blocksPerRow / numChunks do not match the sides';
  if (t.chunkSize !== t.chunkRows * t.chunkCols) return 'chunkSize is not chunkRows · chunkCols';
  if (t.chunkSize > MAX_GPU_CHUNK_SIZE) return `chunk size above the shader's ${MAX_GPU_CHUNK_SIZE}`;
  if (t.k > t.chunkSize) return 'k above the chunk size';
  return null;
}

/**
 * Compresses every tensor of every group in one submit and one readback; returns the
 * selections in group order, then tensor order.
 */
export async function compressChunksOnGpu(
  rt: GpuRuntime,
  batch: { beta: number; groups: readonly TiledCompressGroup[] },
): Promise<GpuCompressedTensor[]> {
  const maxBinding = rt.limits.maxStorageBufferBindingSize;
  const planned: PlannedTensor[][] = [];
  let totalSelected = 0;
  for (const [g, group] of batch.groups.entries()) {
    if (group.delta && underlyingBuffer(group.delta) === underlyingBuffer(group.error)) {
      throw new Error(`compressChunksOnGpu: group ${g} passes the same buffer as error and delta; Δ must live in its own buffer`);
    }
    for (const [name, ref] of [
      ['error', group.error],
      ['delta', group.delta],
    ] as const) {
      if (ref && bindingBytes(ref) > maxBinding) {
        throw new GpuLimitError(
          `compressChunksOnGpu: group ${g}'s ${name} binding is ${bindingBytes(ref)} bytes, above this GPU's maxStorageBufferBindingSize ` +
            `${maxBinding}; split the layout into more groups (one per arena).`,
        );
      }
    }
    const tensors: PlannedTensor[] = [];
    for (const { offset, tiling } of group.tensors) {
      const invalid = tilingError(tiling);
      if (invalid)
        throw new Error(
          `compressChunksOnGpu: group ${g}'s tensor at float offset ${offset} has an invalid tiling (${invalid}): ${JSON.stringify(tiling)}`,
        );
      const end = (offset + tiling.rows * tiling.cols) * 4;
      if (!Number.isInteger(offset) || offset < 0 || end > bindingBytes(group.error) || (group.delta && end > bindingBytes(group.delta))) {
        throw new Error(
          `compressChunksOnGpu: a ${tiling.rows}×${tiling.cols} tensor at float offset ${offset} runs past group ${g}'s error/delta binding`,
        );
      }
      tensors.push({ tiling, selBase: totalSelected });
      totalSelected += tiling.numChunks * tiling.k;
    }
    planned.push(tensors);
  }
  const numTensors = planned.reduce((n, t) => n + t.length, 0);
  if (numTensors === 0) return [];

  const padded = alignTo(totalSelected, 4);
  const paramsBase = padded / 2 + padded / 4;
  const packedWords = paramsBase + PARAM_WORDS * numTensors;
  const selIndex = rt.acquire(padded * 4, 'compress-sel-index');
  const selValue = rt.acquire(padded * 4, 'compress-sel-value');
  const selCode = rt.acquire(padded * 4, 'compress-sel-code');
  const packed = rt.acquire(packedWords * 4, 'compress-packed');
  const noDelta = rt.acquire(16, 'compress-no-delta');

  // Upload every table first: rt.write submits pending work, the dispatches then share one submit.
  let paramIndex = 0;
  const tables = planned.map((tensors, g) => {
    const table = new Uint32Array(Math.max(1, tensors.length) * TABLE_STRIDE);
    let chunkBase = 0;
    tensors.forEach(({ tiling: geo, selBase }, i) => {
      const slot = batch.groups[g]!.tensors[i]!;
      table.set(
        [slot.offset, geo.cols, geo.chunkRows, geo.chunkCols, geo.blocksPerRow, geo.k, geo.numChunks, chunkBase, selBase, paramIndex++],
        i * TABLE_STRIDE,
      );
      chunkBase += geo.numChunks;
    });
    return { buffer: rt.upload(table, 'compress-table'), totalChunks: chunkBase };
  });

  const uniforms = (numGroupTensors: number, totalChunks: number, hasDelta: boolean, chunkOffset = 0): Uint32Array => {
    const u = new Uint32Array(9);
    new Float32Array(u.buffer).set([batch.beta], 3);
    u.set([numGroupTensors, totalChunks, hasDelta ? 1 : 0], 0);
    u.set([0 /* guard */, paramsBase, totalSelected, padded, chunkOffset], 4);
    return u;
  };
  rt.work('compress', () => {
    let lastBindings: BufferRef[] = [];
    batch.groups.forEach((group, g) => {
      const { buffer: table, totalChunks } = tables[g]!;
      if (planned[g]!.length === 0) return;
      const bindings = [table, group.delta ?? noDelta, group.error, selIndex, selValue, selCode, packed];
      const hasDelta = group.delta !== null;
      const floats = planned[g]!.reduce((n, t) => n + t.tiling.rows * t.tiling.cols, 0);
      // Costs for the submission budget: e and Δ read, e written, and the radix select's passes
      // over each chunk. Chunks too long for one submission go out as several dispatches.
      const selectCost = (share: number) => ({ shape: `${floats}`, flops: 16 * floats * share, bytes: 16 * floats * share });
      const chunksPerSlice = Math.ceil(totalChunks / rt.slicesFor(COMPRESS_EF_SELECT, selectCost(1)));
      for (let chunk = 0; chunk < totalChunks; chunk += chunksPerSlice) {
        const chunks = Math.min(chunksPerSlice, totalChunks - chunk);
        const u = uniforms(planned[g]!.length, totalChunks, hasDelta, chunk);
        rt.dispatch(COMPRESS_EF_SELECT, bindings, u, grid1d(rt, chunks, 1), selectCost(chunks / totalChunks));
      }
      rt.dispatch(COMPRESS_QUANTIZE, bindings, uniforms(planned[g]!.length, totalChunks, hasDelta), [planned[g]!.length], {
        shape: `${floats}`,
        bytes: 8 * floats,
      });
      lastBindings = bindings;
    });
    rt.dispatch(COMPRESS_PACK, lastBindings, uniforms(0, 0, false), grid1d(rt, padded / 4, WORKGROUP), { bytes: 12 * padded });
  });
  const words = new Uint32Array(await rt.read(packed, 0, packedWords * 4));

  for (const b of [selIndex, selValue, selCode, packed, noDelta, ...tables.map((t) => t.buffer)]) rt.release(b);

  const allIndices = new Uint16Array(words.buffer, 0, padded);
  const allCodes = new Uint8Array(words.buffer, (padded / 2) * 4, padded);
  const paramValues = new Float32Array(words.buffer, paramsBase * 4, PARAM_WORDS * numTensors);
  const out: GpuCompressedTensor[] = [];
  for (const { tiling: g, selBase } of planned.flat()) {
    const p = out.length * PARAM_WORDS;
    const n = g.numChunks * g.k;
    out.push({
      numChunks: g.numChunks,
      chunkSize: g.chunkSize,
      k: g.k,
      indices: allIndices.slice(selBase, selBase + n),
      codes: allCodes.slice(selBase, selBase + n),
      shift: paramValues[p]!,
      scale: paramValues[p + 1]!,
      lookup: paramValues.slice(p + 2, p + 6),
    });
  }
  return out;
}
