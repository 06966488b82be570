// Launcher for shaders/compress.wgsl: SparseLoCo's compressor on the GPU, bit-identical to the CPU
// compressor in src/sparseloco/compress.ts. A whole parameter layout (several arenas, each a
// buffer holding many tensors) is compressed in one submit: ef_select (a workgroup per chunk),
// quantize (a workgroup per tensor), pack; then one readback of only the selected entries (2-byte
// index + 1-byte code each, k/chunkSize of the tensor) and 6 floats of parameters per tensor. The
// dense error tensor never leaves the GPU; it is updated in place (e ← β·e + Δ − decoded).
import code from '../../shaders/compress.wgsl?raw';
import { GpuLimitError } from '../gpu/errors.ts';
import { alignTo, type BufferRef, type GpuRuntime, type Program } from '../gpu/runtime.ts';
import { chunkGeometry, NOMINAL_CHUNK_SIZE, type ChunkGeometry } from '../sparseloco/chunking.ts';
import type { TensorSlot } from '../sparseloco/compress.ts';
import type { CompressedTensor } from '../sparseloco/types.ts';
import { grid1d } from './grid.ts';

const BINDINGS = ['read', 'read', 'write', 'write', 'write', 'write', 'write', 'uniform'] as const;
const WORKGROUP = 256;
const TABLE_STRIDE = 10;
const PARAM_WORDS = 6;

export const COMPRESS_EF_SELECT: Program = { name: 'compress', code, entryPoint: 'ef_select', bindings: BINDINGS };
export const COMPRESS_QUANTIZE: Program = { name: 'compress', code, entryPoint: 'quantize', bindings: BINDINGS };
export const COMPRESS_PACK: Program = { name: 'compress', code, entryPoint: 'pack', bindings: BINDINGS };
/** Everything compressBatchOnGpu dispatches (for rt.compileAll before a round). */
export const COMPRESS_PROGRAMS: readonly Program[] = [COMPRESS_EF_SELECT, COMPRESS_QUANTIZE, COMPRESS_PACK];

/** One buffer of error-feedback state (e.g. a parameter arena) and the tensors in it. */
export interface GpuCompressGroup {
  /** f32 error feedback, updated in place. */
  error: BufferRef;
  /** f32 pseudo-gradient Δ laid out like `error` (a different buffer), or null for Δ = 0. */
  delta: BufferRef | null;
  /** Shapes and offsets (in floats, relative to the bound ranges) of the tensors to compress. */
  tensors: readonly TensorSlot[];
}

export interface GpuCompressBatch {
  beta: number;
  groups: readonly GpuCompressGroup[];
}

interface PlannedTensor {
  geometry: ChunkGeometry;
  selBase: number;
}

function bindingBytes(ref: BufferRef): number {
  return ref.size;
}

function underlyingBuffer(ref: BufferRef): GPUBuffer {
  return 'buffer' in ref ? ref.buffer : ref;
}

/**
 * Compresses every tensor of every group in one submit and one readback; returns the
 * CompressedTensors in group order, then tensor order.
 */
export async function compressBatchOnGpu(rt: GpuRuntime, batch: GpuCompressBatch): Promise<CompressedTensor[]> {
  const maxBinding = rt.limits.maxStorageBufferBindingSize;
  const planned: PlannedTensor[][] = [];
  let totalSelected = 0;
  for (const [g, group] of batch.groups.entries()) {
    if (group.delta && underlyingBuffer(group.delta) === underlyingBuffer(group.error)) {
      throw new Error(`compressBatchOnGpu: group ${g} passes the same buffer as error and delta; Δ must live in its own buffer`);
    }
    for (const [name, ref] of [['error', group.error], ['delta', group.delta]] as const) {
      if (ref && bindingBytes(ref) > maxBinding) {
        throw new GpuLimitError(
          `compressBatchOnGpu: group ${g}'s ${name} binding is ${bindingBytes(ref)} bytes, above this GPU's maxStorageBufferBindingSize ` +
            `${maxBinding}; split the layout into more groups (one per arena).`,
        );
      }
    }
    const tensors: PlannedTensor[] = [];
    for (const slot of group.tensors) {
      const geometry = chunkGeometry(slot.shape);
      if (geometry.chunkSize > NOMINAL_CHUNK_SIZE) throw new Error(`compressBatchOnGpu: chunk size ${geometry.chunkSize} above ${NOMINAL_CHUNK_SIZE}`);
      const end = (slot.offset + geometry.rows * geometry.cols) * 4;
      if (!Number.isInteger(slot.offset) || slot.offset < 0 || end > bindingBytes(group.error) || (group.delta && end > bindingBytes(group.delta))) {
        throw new Error(`compressBatchOnGpu: tensor [${slot.shape.join(', ')}] at float offset ${slot.offset} runs past group ${g}'s error/delta binding`);
      }
      tensors.push({ geometry, selBase: totalSelected });
      totalSelected += geometry.numChunks * geometry.k;
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
    tensors.forEach(({ geometry: geo, selBase }, i) => {
      const slot = batch.groups[g]!.tensors[i]!;
      table.set([slot.offset, geo.cols, geo.chunkRows, geo.chunkCols, geo.blocksPerRow, geo.k, geo.numChunks, chunkBase, selBase, paramIndex++], i * TABLE_STRIDE);
      chunkBase += geo.numChunks;
    });
    return { buffer: rt.upload(table, 'compress-table'), totalChunks: chunkBase };
  });

  const uniforms = (numGroupTensors: number, totalChunks: number, hasDelta: boolean): Uint32Array => {
    const u = new Uint32Array(8);
    new Float32Array(u.buffer).set([batch.beta], 3);
    u.set([numGroupTensors, totalChunks, hasDelta ? 1 : 0], 0);
    u.set([0 /* guard */, paramsBase, totalSelected, padded], 4);
    return u;
  };
  let lastBindings: BufferRef[] = [];
  batch.groups.forEach((group, g) => {
    const { buffer: table, totalChunks } = tables[g]!;
    if (planned[g]!.length === 0) return;
    const bindings = [table, group.delta ?? noDelta, group.error, selIndex, selValue, selCode, packed];
    const u = uniforms(planned[g]!.length, totalChunks, group.delta !== null);
    rt.dispatch(COMPRESS_EF_SELECT, bindings, u, grid1d(rt, totalChunks, 1));
    rt.dispatch(COMPRESS_QUANTIZE, bindings, u, [planned[g]!.length]);
    lastBindings = bindings;
  });
  rt.dispatch(COMPRESS_PACK, lastBindings, uniforms(0, 0, false), grid1d(rt, padded / 4, WORKGROUP));
  const words = new Uint32Array(await rt.read(packed, 0, packedWords * 4));

  for (const b of [selIndex, selValue, selCode, packed, noDelta, ...tables.map((t) => t.buffer)]) rt.release(b);

  const allIndices = new Uint16Array(words.buffer, 0, padded);
  const allCodes = new Uint8Array(words.buffer, (padded / 2) * 4, padded);
  const paramValues = new Float32Array(words.buffer, paramsBase * 4, PARAM_WORDS * numTensors);
  const out: CompressedTensor[] = [];
  for (const { geometry: g, selBase } of planned.flat()) {
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

/** A tensor placed in one of several buffers (the model layout's ParameterTensor fits). */
export interface ArenaTensor {
  shape: readonly number[];
  /** Which buffer of `errors` / `deltas` holds it. */
  arena: number;
  /** Offset in floats in that buffer, a multiple of 64 (256 bytes, so it can start a binding). */
  arenaOffset: number;
}

/**
 * Groups for compressBatchOnGpu from tensors spread over arenas: consecutive tensors of an arena
 * share a binding until it would exceed `maxBindingBytes` (maxStorageBufferBindingSize), so an
 * arena larger than one binding is still compressed in the same submit.
 */
export function arenaGroups(tensors: readonly ArenaTensor[], errors: readonly GPUBuffer[], deltas: readonly GPUBuffer[] | null, maxBindingBytes: number): GpuCompressGroup[] {
  const groups: GpuCompressGroup[] = [];
  let current: { arena: number; start: number; end: number; slots: { shape: readonly number[]; at: number }[] } | null = null;
  const close = (): void => {
    if (!current) return;
    const { arena, start, end, slots } = current;
    const range = (buffer: GPUBuffer): BufferRef => ({ buffer, offset: start * 4, size: alignTo((end - start) * 4, 4) });
    groups.push({
      error: range(errors[arena]!),
      delta: deltas ? range(deltas[arena]!) : null,
      tensors: slots.map(({ shape, at }) => ({ shape, offset: at - start })),
    });
    current = null;
  };
  for (const t of tensors) {
    if (t.arenaOffset % 64 !== 0) throw new Error(`arenaGroups: tensor at float ${t.arenaOffset} of arena ${t.arena} is not 256-byte aligned`);
    if (!errors[t.arena] || (deltas && !deltas[t.arena])) throw new Error(`arenaGroups: no error/delta buffer for arena ${t.arena}`);
    const end = t.arenaOffset + t.shape.reduce((a, b) => a * b, 1);
    if ((end - t.arenaOffset) * 4 > maxBindingBytes) throw new GpuLimitError(`arenaGroups: a tensor of ${(end - t.arenaOffset) * 4} bytes exceeds one binding (${maxBindingBytes})`);
    if (current && (current.arena !== t.arena || t.arenaOffset < current.end || (end - current.start) * 4 > maxBindingBytes)) close();
    current ??= { arena: t.arena, start: t.arenaOffset, end, slots: [] };
    current.slots.push({ shape: t.shape, at: t.arenaOffset });
    current.end = end;
  }
  close();
  return groups;
}

/** Compresses one tensor held at the start of `error` (updated in place). */
export async function compressOnGpu(
  rt: GpuRuntime,
  { error, delta, beta, shape }: { error: BufferRef; delta: BufferRef | null; beta: number; shape: readonly number[] },
): Promise<CompressedTensor> {
  const [compressed] = await compressBatchOnGpu(rt, { beta, groups: [{ error, delta, tensors: [{ shape, offset: 0 }] }] });
  return compressed!;
}
