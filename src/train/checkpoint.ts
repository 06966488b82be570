// Checkpoints that other tools read: model.safetensors under Hugging Face LLaMA names plus a
// config.json, so `transformers` loads them as LlamaForCausalLM; optionally the AdamW state for
// resuming. Bytes in, bytes out: Node writes them to a folder, the browser offers a download.
import { parseLlamaConfig, type LlamaConfig } from '../model/config.ts';
import { parameterLayout, type ParameterLayout } from '../model/layout.ts';
import { readSafetensors, writeSafetensors, type Tensor } from '../model/safetensors.ts';
import { modelHash } from '../model/hash.ts';
import type { AdamWState } from './optimizer.ts';

export interface Checkpoint {
  config: LlamaConfig;
  /** Flat parameters in `parameterLayout(config)` order (padding included). */
  params: Float32Array;
  /** Optimizer steps taken so far. */
  step: number;
  optimizer?: AdamWState;
  /** checkpointHash of `params`, when the caller already has it (hashing base takes seconds). */
  modelHash?: string;
}

export type CheckpointFiles = Record<string, Uint8Array>;

export const MODEL_FILE = 'model.safetensors';
export const CONFIG_FILE = 'config.json';
export const OPTIMIZER_FILE = 'optimizer.safetensors';

/** Each layout tensor's values as a view into the flat vector. */
export function tensorViews(layout: ParameterLayout, flat: Float32Array): Float32Array[] {
  if (flat.length < layout.totalFloats) throw new Error(`expected ${layout.totalFloats} floats for this layout, got ${flat.length}`);
  return layout.tensors.map((t) => flat.subarray(t.offset, t.offset + t.size));
}

/** The model hash (blake3 over the canonical parameter bytes; docs/PROTOCOL.md). */
export function checkpointHash(layout: ParameterLayout, flat: Float32Array): string {
  return modelHash(layout.tensors, tensorViews(layout, flat));
}

/** config.json as `transformers` expects it for LlamaForCausalLM. */
function huggingFaceConfig(config: LlamaConfig): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    ...config,
    head_dim: config.hidden_size / config.num_attention_heads,
    hidden_act: 'silu',
    attention_bias: false,
    mlp_bias: false,
    initializer_range: 0.02,
    torch_dtype: 'float32',
    use_cache: true,
  };
}

function flatTensors(layout: ParameterLayout, flat: Float32Array): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  const views = tensorViews(layout, flat);
  layout.tensors.forEach((t, i) => (out[t.name] = { dtype: 'F32', shape: t.shape, data: views[i]! }));
  return out;
}

export function encodeCheckpoint(ckpt: Checkpoint): CheckpointFiles {
  const layout = parameterLayout(ckpt.config);
  const hash = ckpt.modelHash ?? checkpointHash(layout, ckpt.params);
  const metadata = { format: 'pt', webloco_model_hash: hash, webloco_step: String(ckpt.step), webloco_config: JSON.stringify(ckpt.config) };
  const files: CheckpointFiles = {
    [MODEL_FILE]: writeSafetensors(flatTensors(layout, ckpt.params), metadata),
    [CONFIG_FILE]: new TextEncoder().encode(JSON.stringify(huggingFaceConfig(ckpt.config), null, 2) + '\n'),
  };
  if (ckpt.optimizer) {
    const o = ckpt.optimizer;
    const tensors: Record<string, Tensor> = {};
    const m = tensorViews(layout, o.m);
    const v = tensorViews(layout, o.v);
    layout.tensors.forEach((t, i) => {
      tensors[`exp_avg.${t.name}`] = { dtype: 'F32', shape: t.shape, data: m[i]! };
      tensors[`exp_avg_sq.${t.name}`] = { dtype: 'F32', shape: t.shape, data: v[i]! };
    });
    files[OPTIMIZER_FILE] = writeSafetensors(tensors, { webloco_optimizer_step: String(o.step), webloco_model_hash: hash });
  }
  return files;
}

function unflatten(layout: ParameterLayout, tensors: Map<string, Tensor>, prefix: string, what: string): Float32Array {
  const flat = new Float32Array(layout.totalFloats);
  for (const t of layout.tensors) {
    const found = tensors.get(prefix + t.name);
    if (!found) throw new Error(`${what} has no tensor '${prefix + t.name}'`);
    if (found.dtype !== 'F32') throw new Error(`${what}: '${prefix + t.name}' is ${found.dtype}, expected F32`);
    if (found.shape.join(',') !== t.shape.join(',')) {
      throw new Error(`${what}: '${prefix + t.name}' has shape [${found.shape}], the config needs [${t.shape}]`);
    }
    flat.set(found.data, t.offset);
  }
  return flat;
}

/**
 * Reads a checkpoint. The config comes from config.json when given, else from the metadata
 * that WebLoCo writes into model.safetensors (so one downloaded file is enough).
 */
export function decodeCheckpoint(files: CheckpointFiles): Checkpoint {
  const modelBytes = files[MODEL_FILE];
  if (!modelBytes) throw new Error(`checkpoint has no ${MODEL_FILE}`);
  const model = readSafetensors(modelBytes);
  const configBytes = files[CONFIG_FILE];
  const configJson: unknown = configBytes
    ? JSON.parse(new TextDecoder().decode(configBytes))
    : model.metadata.webloco_config
      ? JSON.parse(model.metadata.webloco_config)
      : null;
  if (!configJson) throw new Error(`checkpoint has neither ${CONFIG_FILE} nor a config in ${MODEL_FILE}'s metadata`);
  const config = parseLlamaConfig(configJson);
  const layout = parameterLayout(config);
  const params = unflatten(layout, model.tensors, '', MODEL_FILE);
  const modelHash = checkpointHash(layout, params);
  const expectedHash = model.metadata.webloco_model_hash;
  if (expectedHash && expectedHash !== modelHash) {
    throw new Error(`${MODEL_FILE} is corrupt: its parameters do not match the model hash in its metadata`);
  }
  const step = Number(model.metadata.webloco_step ?? 0);
  const ckpt: Checkpoint = { config, params, step: Number.isFinite(step) ? step : 0, modelHash };
  const optBytes = files[OPTIMIZER_FILE];
  if (optBytes) {
    const opt = readSafetensors(optBytes);
    ckpt.optimizer = {
      step: Number(opt.metadata.webloco_optimizer_step ?? 0),
      m: unflatten(layout, opt.tensors, 'exp_avg.', OPTIMIZER_FILE),
      v: unflatten(layout, opt.tensors, 'exp_avg_sq.', OPTIMIZER_FILE),
    };
  }
  return ckpt;
}
