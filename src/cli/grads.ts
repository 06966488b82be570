// `webloco grads --config C.json --weights W.safetensors --tokens T.safetensors --out G.safetensors`:
// the gradient of the mean next-token cross-entropy of one batch, for every tensor of W, on this
// machine's GPU (Dawn). Lets any independent implementation (PyTorch, JAX) check ours end to end.
// T holds one I32 tensor `tokens` [B, S+1]: inputs are the first S ids of each row, targets the last S.
import { errorMessage } from '../base/errors.ts';
import { readFile, writeFile } from 'node:fs/promises';
import { nodeGpuDevice } from '../gpu/node.ts';
import { GpuRuntime } from '../gpu/runtime.ts';
import { parseLlamaConfig, type LlamaConfig } from '../model/config.ts';
import { packParameters, parameterLayout, unpackParameters } from '../model/layout.ts';
import { LlamaModel } from '../model/model.ts';
import { readSafetensors, writeSafetensors, type Tensor } from '../model/safetensors.ts';
import type { CommandSpec, OptionValues } from './args.ts';

export interface GradientsResult {
  loss: number;
  /** safetensors bytes: one F32 gradient per weight, same names and order as the weights file. */
  gradients: Uint8Array;
}

/** The named weights of W, checked against the layout `config` implies. */
function checkWeights(config: LlamaConfig, weights: Map<string, Tensor>): void {
  const expected = parameterLayout(config).tensors;
  const names = new Set(expected.map((t) => t.name));
  const extra = [...weights.keys()].filter((n) => !names.has(n));
  if (extra.length > 0) {
    const tiedHint =
      config.tie_word_embeddings && extra.includes('lm_head.weight')
        ? ' (the config ties the head to the embeddings: drop lm_head.weight or set tie_word_embeddings false)'
        : '';
    throw new Error(`weights file has tensors this config does not use: ${extra.join(', ')}${tiedHint}`);
  }
  for (const t of expected) {
    const w = weights.get(t.name);
    if (!w) throw new Error(`weights file lacks '${t.name}' [${t.shape}]`);
    if (w.dtype !== 'F32') throw new Error(`weights tensor '${t.name}' is ${w.dtype}; expected F32`);
    if (w.shape.join(',') !== t.shape.join(','))
      throw new Error(`weights tensor '${t.name}' has shape [${w.shape}], the config implies [${t.shape}]`);
  }
}

/** Splits `tokens` [B, S+1] into inputs and targets, [B·S] each. */
function splitTokens(
  config: LlamaConfig,
  file: Map<string, Tensor>,
): { batch: number; seqLen: number; inputs: Int32Array; targets: Int32Array } {
  const t = file.get('tokens');
  if (!t || file.size !== 1)
    throw new Error(`tokens file must hold exactly one tensor named 'tokens'; found ${[...file.keys()].join(', ') || 'none'}`);
  if (t.dtype !== 'I32' || t.shape.length !== 2) throw new Error(`'tokens' must be I32 [B, S+1]; got ${t.dtype} [${t.shape}]`);
  const [batch, row] = t.shape as [number, number];
  const seqLen = row - 1;
  if (batch < 1 || seqLen < 1) throw new Error(`'tokens' [${t.shape}] needs at least one row of two ids`);
  if (seqLen > config.max_position_embeddings)
    throw new Error(`sequences of ${seqLen} inputs exceed max_position_embeddings ${config.max_position_embeddings}`);
  const ids = t.data as Int32Array;
  const bad = ids.findIndex((id) => id < 0 || id >= config.vocab_size);
  if (bad >= 0) throw new Error(`token ${bad} is ${ids[bad]}, outside the vocabulary [0, ${config.vocab_size})`);
  const inputs = new Int32Array(batch * seqLen);
  const targets = new Int32Array(batch * seqLen);
  for (let b = 0; b < batch; b++) {
    inputs.set(ids.subarray(b * row, b * row + seqLen), b * seqLen);
    targets.set(ids.subarray(b * row + 1, (b + 1) * row), b * seqLen);
  }
  return { batch, seqLen, inputs, targets };
}

/** The whole command without files or device: config JSON, W and T bytes in; loss and G bytes out. */
export async function computeGradients(
  rt: GpuRuntime,
  configJson: unknown,
  weightsFile: Uint8Array,
  tokensFile: Uint8Array,
): Promise<GradientsResult> {
  const config = parseLlamaConfig(configJson);
  const weights = readSafetensors(weightsFile).tensors;
  checkWeights(config, weights);
  const { batch, seqLen, inputs, targets } = splitTokens(config, readSafetensors(tokensFile).tensors);
  const model = await LlamaModel.create(rt, config, { batch, seqLen });
  try {
    model.setParameters(packParameters(model.layout, new Map([...weights].map(([name, t]) => [name, t.data]))));
    model.step(inputs, targets);
    const loss = await model.readLoss();
    const grads = unpackParameters(model.layout, await model.readGradients());
    const out: [string, Tensor][] = [...weights].map(([name, w]) => [name, { dtype: 'F32', shape: w.shape, data: grads.get(name)! }]);
    return { loss, gradients: writeSafetensors(out) };
  } finally {
    model.destroy();
  }
}

export const command = {
  name: 'grads',
  summary: 'gradient of the mean next-token loss of a batch, for checking against another implementation; prints {"loss"}',
  options: {
    config: { kind: 'string', placeholder: 'C.json', help: "the model's config.json (Hugging Face Llama fields)" },
    weights: {
      kind: 'string',
      placeholder: 'W.safetensors',
      help: 'the weights: every F32 tensor the config implies, by its Hugging Face name',
    },
    tokens: {
      kind: 'string',
      placeholder: 'T.safetensors',
      help: 'the batch: one I32 tensor `tokens` [B, S+1]; inputs are the first S ids of a row, targets the last S',
    },
    out: {
      kind: 'string',
      placeholder: 'G.safetensors',
      help: "where to write the gradients: one F32 tensor per weight, W's names and order",
    },
  },
  required: ['config', 'weights', 'tokens', 'out'],
  details: ["Runs on this machine's GPU (Dawn), so that an independent implementation (PyTorch, JAX) can check ours end to end."],
} satisfies CommandSpec;

/** `runtime` lets tests share their GPU device; the command opens its own. */
export async function run(args: OptionValues<typeof command.options>, runtime?: GpuRuntime): Promise<void> {
  // All four are required: parseCommand has checked them.
  const [configText, weights, tokens] = await Promise.all([
    readFile(args.config!, 'utf8'),
    readFile(args.weights!),
    readFile(args.tokens!),
  ]);
  let configJson: unknown;
  try {
    configJson = JSON.parse(configText);
  } catch (err) {
    throw new Error(`${args.config} is not JSON: ${errorMessage(err)}`, { cause: err });
  }
  const rt = runtime ?? new GpuRuntime(await nodeGpuDevice());
  try {
    const { loss, gradients } = await computeGradients(rt, configJson, weights, tokens);
    await writeFile(args.out!, gradients);
    console.log(JSON.stringify({ loss }));
  } finally {
    if (!runtime) rt.destroy();
  }
}
