// The flat parameter layout: one ordered list of named tensors under Hugging Face names, each at
// a 64-float-aligned offset of one flat vector, split into GPU arenas. Parameters, gradients and
// the AdamW moments all share it, and its hash names the model's shape on the wire.
import { blake3 } from '../base/blake3.ts';
import { bytesToHex } from '../base/hex.ts';
import { alignFloats, planArenas, type ArenaLimits } from './arena.ts';
import { headDim, validateConfig, type LlamaConfig } from './config.ts';

export interface ParameterTensor {
  name: string;
  shape: number[];
  /** Elements. */
  size: number;
  /** Offset in floats in the flat parameter vector (a multiple of 64). */
  offset: number;
  /** AdamW weight decay applies to 2-D weights, never to norm gains. */
  weightDecay: boolean;
  /** Arena holding it, and its offset in floats inside that arena. */
  arena: number;
  arenaOffset: number;
}

export interface ParameterLayout {
  config: LlamaConfig;
  tensors: ParameterTensor[];
  /** Length of the flat vector, padding included. */
  totalFloats: number;
  /** Parameters proper (no padding). */
  parameterCount: number;
  /** Floats in each arena; arena i covers flat floats [arenaStart[i], arenaStart[i] + arenaFloats[i]). */
  arenaFloats: number[];
  arenaStart: number[];
  /** blake3 (hex) of the canonical names and shapes. */
  hash: string;
}

/** Limits large enough never to split: for CPU-side use (files, references). */
const UNLIMITED: ArenaLimits = { maxBufferSize: Number.MAX_SAFE_INTEGER, maxStorageBufferBindingSize: Number.MAX_SAFE_INTEGER };

/** Tensor names and shapes in canonical order: embeddings, layers 0..L-1, final norm, head. */
export function parameterShapes(config: LlamaConfig): { name: string; shape: number[] }[] {
  validateConfig(config);
  const C = config.hidden_size;
  const kvDim = config.num_key_value_heads * headDim(config);
  const I = config.intermediate_size;
  const out = [{ name: 'model.embed_tokens.weight', shape: [config.vocab_size, C] }];
  for (let l = 0; l < config.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    out.push(
      { name: `${p}.input_layernorm.weight`, shape: [C] },
      { name: `${p}.self_attn.q_proj.weight`, shape: [C, C] },
      { name: `${p}.self_attn.k_proj.weight`, shape: [kvDim, C] },
      { name: `${p}.self_attn.v_proj.weight`, shape: [kvDim, C] },
      { name: `${p}.self_attn.o_proj.weight`, shape: [C, C] },
      { name: `${p}.post_attention_layernorm.weight`, shape: [C] },
      { name: `${p}.mlp.gate_proj.weight`, shape: [I, C] },
      { name: `${p}.mlp.up_proj.weight`, shape: [I, C] },
      { name: `${p}.mlp.down_proj.weight`, shape: [C, I] },
    );
  }
  out.push({ name: 'model.norm.weight', shape: [C] });
  if (!config.tie_word_embeddings) out.push({ name: 'lm_head.weight', shape: [config.vocab_size, C] });
  return out;
}

export function parameterLayout(config: LlamaConfig, limits: ArenaLimits = UNLIMITED): ParameterLayout {
  const shapes = parameterShapes(config).map((t) => ({
    ...t,
    size: t.shape.reduce((a, b) => a * b, 1),
    weightDecay: t.shape.length === 2,
  }));
  const plan = planArenas(shapes, limits);
  const arenaStart: number[] = [];
  let start = 0;
  for (const floats of plan.arenaFloats) {
    arenaStart.push(start);
    start += floats;
  }
  const tensors: ParameterTensor[] = plan.tensors.map((t) => ({
    name: t.name,
    shape: t.shape,
    size: t.size,
    offset: arenaStart[t.arena]! + t.arenaOffset,
    weightDecay: t.weightDecay,
    arena: t.arena,
    arenaOffset: t.arenaOffset,
  }));
  const canonical = JSON.stringify(shapes.map((t) => [t.name, t.shape]));
  return {
    config,
    tensors,
    totalFloats: alignFloats(start),
    parameterCount: tensors.reduce((n, t) => n + t.size, 0),
    arenaFloats: plan.arenaFloats,
    arenaStart,
    hash: bytesToHex(blake3(new TextEncoder().encode(canonical))),
  };
}

/** The flat vector holding `tensors` (every layout tensor, by name, with its exact size). */
export function packParameters(
  layout: ParameterLayout,
  tensors: ReadonlyMap<string, ArrayLike<number>> | Readonly<Record<string, ArrayLike<number>>>,
): Float32Array {
  const get = (name: string): ArrayLike<number> | undefined =>
    tensors instanceof Map
      ? (tensors as ReadonlyMap<string, ArrayLike<number>>).get(name)
      : (tensors as Readonly<Record<string, ArrayLike<number>>>)[name];
  const flat = new Float32Array(layout.totalFloats);
  for (const t of layout.tensors) {
    const data = get(t.name);
    if (!data) throw new Error(`missing tensor '${t.name}' (shape [${t.shape}])`);
    if (data.length !== t.size) throw new Error(`tensor '${t.name}' has ${data.length} elements, expected ${t.size} (shape [${t.shape}])`);
    flat.set(data, t.offset);
  }
  return flat;
}

/** Views of each named tensor inside a flat vector (no copies). */
export function unpackParameters(layout: ParameterLayout, flat: Float32Array): Map<string, Float32Array> {
  if (flat.length !== layout.totalFloats) throw new Error(`expected ${layout.totalFloats} floats, got ${flat.length}`);
  return new Map(layout.tensors.map((t) => [t.name, flat.subarray(t.offset, t.offset + t.size)]));
}
