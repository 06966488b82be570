// A parameter layout on the GPU: one allocation per arena and a typed, named view of every
// tensor. Parameters, gradients and the AdamW moments are each one of these.
import { STORAGE_USAGE, type BufferSlice, type GpuRuntime } from '../gpu/runtime.ts';
import type { ParameterLayout } from './layout.ts';

export interface LayerWeights {
  inputNorm: BufferSlice;
  q: BufferSlice;
  k: BufferSlice;
  v: BufferSlice;
  o: BufferSlice;
  postNorm: BufferSlice;
  gate: BufferSlice;
  up: BufferSlice;
  down: BufferSlice;
}

export interface ModelWeights {
  embed: BufferSlice;
  layers: LayerWeights[];
  finalNorm: BufferSlice;
  /** The output projection: the embedding itself when the head is tied. */
  head: BufferSlice;
}

export interface ParameterBuffers {
  layout: ParameterLayout;
  arenas: GPUBuffer[];
  /** One view per layout tensor, in layout order. */
  views: BufferSlice[];
  weights: ModelWeights;
}

export function allocateParameterBuffers(rt: GpuRuntime, layout: ParameterLayout, label: string): ParameterBuffers {
  const arenas = layout.arenaFloats.map((floats, i) =>
    rt.device.createBuffer({ label: `${label}-${i}`, size: Math.max(floats, 4) * 4, usage: STORAGE_USAGE }),
  );
  const views = layout.tensors.map((t) => ({ buffer: arenas[t.arena]!, offset: t.arenaOffset * 4, size: t.size * 4 }));
  // Build the typed views once from the canonical order (layout.ts): nothing is looked up by name later.
  let next = 0;
  const take = () => views[next++]!;
  const embed = take();
  const layers: LayerWeights[] = [];
  for (let l = 0; l < layout.config.num_hidden_layers; l++) {
    layers.push({
      inputNorm: take(),
      q: take(),
      k: take(),
      v: take(),
      o: take(),
      postNorm: take(),
      gate: take(),
      up: take(),
      down: take(),
    });
  }
  const finalNorm = take();
  const head = layout.config.tie_word_embeddings ? embed : take();
  if (next !== views.length) throw new Error(`parameter layout has ${views.length} tensors but the model uses ${next}`);
  return { layout, arenas, views, weights: { embed, layers, finalNorm, head } };
}

/** Writes a flat vector (layout.totalFloats, see layout.ts offsets) into the arenas. */
export function uploadFlat(rt: GpuRuntime, buffers: ParameterBuffers, flat: Float32Array): void {
  const { layout } = buffers;
  if (flat.length !== layout.totalFloats)
    throw new Error(`expected a flat parameter vector of ${layout.totalFloats} floats (the layout's totalFloats), got ${flat.length}`);
  buffers.arenas.forEach((arena, i) => {
    rt.write(arena, flat.subarray(layout.arenaStart[i], layout.arenaStart[i]! + layout.arenaFloats[i]!));
  });
}

export async function downloadFlat(rt: GpuRuntime, buffers: ParameterBuffers): Promise<Float32Array> {
  const { layout } = buffers;
  const flat = new Float32Array(layout.totalFloats);
  for (let i = 0; i < buffers.arenas.length; i++) {
    flat.set(await rt.readF32(buffers.arenas[i]!, 0, layout.arenaFloats[i]), layout.arenaStart[i]);
  }
  return flat;
}

export function clearParameterBuffers(rt: GpuRuntime, buffers: ParameterBuffers): void {
  for (const arena of buffers.arenas) rt.clear(arena);
}

export function destroyParameterBuffers(buffers: ParameterBuffers): void {
  for (const arena of buffers.arenas) arena.destroy();
}
