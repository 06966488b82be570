// SparseLoCo's compressor on the GPU for shapes and parameter layouts: cuts each tensor with
// chunking.ts (the same geometry the CPU compressor and the codec use) and hands the cut, as plain
// numbers, to the launcher in src/kernels/compress.ts, which stays bit-identical to compress.ts.
// Callers compile src/kernels/compress.ts's COMPRESS_PROGRAMS before a round.
import { GpuLimitError } from '../gpu/errors.ts';
import { alignTo, type BufferRef, type GpuRuntime } from '../gpu/runtime.ts';
import { compressChunksOnGpu } from '../kernels/compress.ts';
import { chunkGeometry } from './chunking.ts';
import type { TensorSlot } from './compress.ts';
import type { CompressedTensor } from './types.ts';

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

/**
 * Compresses every tensor of every group in one submit and one readback; returns the
 * CompressedTensors in group order, then tensor order.
 */
export async function compressBatchOnGpu(rt: GpuRuntime, batch: GpuCompressBatch): Promise<CompressedTensor[]> {
  const groups = batch.groups.map(({ error, delta, tensors }) => ({
    error,
    delta,
    tensors: tensors.map(({ shape, offset }) => ({ offset, tiling: chunkGeometry(shape) })),
  }));
  return compressChunksOnGpu(rt, { beta: batch.beta, groups });
}

/** Compresses one tensor held at the start of `error` (updated in place). */
export async function compressOnGpu(
  rt: GpuRuntime,
  { error, delta, beta, shape }: { error: BufferRef; delta: BufferRef | null; beta: number; shape: readonly number[] },
): Promise<CompressedTensor> {
  const [compressed] = await compressBatchOnGpu(rt, { beta, groups: [{ error, delta, tensors: [{ shape, offset: 0 }] }] });
  return compressed!;
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
export function arenaGroups(
  tensors: readonly ArenaTensor[],
  errors: readonly GPUBuffer[],
  deltas: readonly GPUBuffer[] | null,
  maxBindingBytes: number,
): GpuCompressGroup[] {
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
    if (t.arenaOffset % 64 !== 0)
      throw new Error(`arenaGroups: tensor at float ${t.arenaOffset} of arena ${t.arena} is not 256-byte aligned`);
    if (!errors[t.arena] || (deltas && !deltas[t.arena])) throw new Error(`arenaGroups: no error/delta buffer for arena ${t.arena}`);
    const end = t.arenaOffset + t.shape.reduce((a, b) => a * b, 1);
    if ((end - t.arenaOffset) * 4 > maxBindingBytes)
      throw new GpuLimitError(`arenaGroups: a tensor of ${(end - t.arenaOffset) * 4} bytes exceeds one binding (${maxBindingBytes})`);
    if (current && (current.arena !== t.arena || t.arenaOffset < current.end || (end - current.start) * 4 > maxBindingBytes)) close();
    current ??= { arena: t.arena, start: t.arenaOffset, end, slots: [] };
    current.slots.push({ shape: t.shape, at: t.arenaOffset });
    current.end = end;
  }
  close();
  return groups;
}
