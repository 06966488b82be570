// Packing named tensors into a few large GPU allocations ("arenas"), llm.c style: every tensor
// starts on a 256-byte boundary so it can be bound as a slice, no arena exceeds maxBufferSize and
// no tensor exceeds maxStorageBufferBindingSize. Shared by the parameter layout and activations.

/** Floats per alignment unit: 256 bytes, WebGPU's largest minStorageBufferOffsetAlignment. */
export const ALIGN_FLOATS = 64;

export interface ArenaLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
}

export interface PlacedTensor {
  name: string;
  /** Elements actually used. */
  size: number;
  /** Arena index. */
  arena: number;
  /** Offset in floats from the start of the arena (a multiple of ALIGN_FLOATS). */
  arenaOffset: number;
}

export interface ArenaPlan<T extends PlacedTensor> {
  tensors: T[];
  /** Floats in each arena (a multiple of ALIGN_FLOATS). */
  arenaFloats: number[];
}

export function alignFloats(n: number): number {
  return Math.ceil(n / ALIGN_FLOATS) * ALIGN_FLOATS;
}

/**
 * Places tensors in order, opening a new arena when the next one would not fit. Order is kept
 * so that an arena is a contiguous run of the list (and of the flat parameter vector).
 */
export function planArenas<T extends { name: string; size: number }>(
  items: readonly T[],
  limits: ArenaLimits,
): ArenaPlan<T & PlacedTensor> {
  const maxArenaFloats = Math.floor(limits.maxBufferSize / 4 / ALIGN_FLOATS) * ALIGN_FLOATS;
  const arenaFloats: number[] = [];
  const tensors: (T & PlacedTensor)[] = [];
  let used = 0;
  for (const item of items) {
    const bytes = item.size * 4;
    if (bytes > limits.maxStorageBufferBindingSize || alignFloats(item.size) > maxArenaFloats) {
      throw new Error(
        `tensor ${item.name} needs ${bytes} bytes in one binding but this GPU allows ${Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize)} ` +
          '(maxStorageBufferBindingSize / maxBufferSize): use a smaller model preset or batch, or a GPU/browser with larger limits',
      );
    }
    if (arenaFloats.length === 0 || used + alignFloats(item.size) > maxArenaFloats) {
      if (arenaFloats.length > 0) arenaFloats[arenaFloats.length - 1] = used;
      arenaFloats.push(0);
      used = 0;
    }
    tensors.push({ ...item, arena: arenaFloats.length - 1, arenaOffset: used });
    used += alignFloats(item.size);
  }
  if (arenaFloats.length > 0) arenaFloats[arenaFloats.length - 1] = used;
  return { tensors, arenaFloats };
}
