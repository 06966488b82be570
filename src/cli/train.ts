// `webloco train`: centralized single-process training on Dawn, the baseline SparseLoCo is
// measured against. One JSON line per step, held-out loss every few steps and at the end, and a
// checkpoint (safetensors + config.json) at the end.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DEFAULT_DATA_DIR, brownCorpus, loadSplitFromDirectory, writeTokenShards } from '../data/node.ts';
import { loadTokenizer, type TokenizerName } from '../data/tokenizer.ts';
import { nodeGpuDevice } from '../gpu/node.ts';
import { GpuRuntime } from '../gpu/runtime.ts';
import { preset, type LlamaConfig } from '../model/config.ts';
import { initParameters } from '../model/init.ts';
import { LlamaModel } from '../model/model.ts';
import { heldOutBatches, roundBatches } from '../train/batches.ts';
import { checkpointHash, decodeCheckpoint, encodeCheckpoint, type Checkpoint, type CheckpointFiles } from '../train/checkpoint.ts';
import { InnerLoop } from '../train/inner-loop.ts';
import { AdamW, type AdamWState } from '../train/optimizer.ts';
import { parseArgs } from './args.ts';

export function tokenizerFor(vocabSize: number): TokenizerName {
  return vocabSize === 256 ? 'bytes' : 'gpt2';
}

/** Loads the token shards for `name`, building them first when they are missing. */
export async function ensureShards(name: TokenizerName, dataDir = DEFAULT_DATA_DIR) {
  const dir = join(dataDir, name);
  await writeTokenShards(dir, brownCorpus(), await loadTokenizer(name));
  return { train: await loadSplitFromDirectory(dir, 'train'), heldout: await loadSplitFromDirectory(dir, 'heldout') };
}

export async function readCheckpointDir(dir: string): Promise<CheckpointFiles> {
  const files: CheckpointFiles = {};
  for (const name of ['model.safetensors', 'config.json', 'optimizer.safetensors']) {
    try {
      files[name] = new Uint8Array(await readFile(join(dir, name)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return files;
}

export async function writeCheckpointDir(dir: string, files: CheckpointFiles): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) await writeFile(join(dir, name), bytes);
}

export interface CentralizedOptions {
  config: LlamaConfig;
  steps: number;
  batch: number;
  seqLen: number;
  microBatches?: number;
  lr?: number;
  warmup?: number;
  evalEvery?: number;
  evalBatches?: number;
  seed?: number;
  /** Start from this checkpoint instead of a fresh init. */
  resume?: Checkpoint;
}

export interface CentralizedResult {
  heldOutLoss: number;
  modelHash: string;
  params: Float32Array;
  optimizer: AdamWState;
}

/**
 * Centralized training: one model, `steps` AdamW steps on the train split, held-out loss every
 * `evalEvery` steps and at the end. Each line the CLI prints goes through `report`.
 */
export async function trainCentralized(rt: GpuRuntime, o: CentralizedOptions, report: (line: Record<string, number>) => void): Promise<CentralizedResult> {
  const micro = o.microBatches ?? 1;
  const evalEvery = o.evalEvery ?? 25;
  const data = await ensureShards(tokenizerFor(o.config.vocab_size));
  const model = await LlamaModel.create(rt, o.config, { batch: o.batch, seqLen: o.seqLen });
  const optimizer = await AdamW.create(model);
  try {
    model.setParameters(o.resume?.params ?? initParameters(model.layout, { seed: o.seed ?? 0 }));
    if (o.resume?.optimizer) optimizer.setState(o.resume.optimizer);
    const loop = new InnerLoop(model, optimizer);
    const firstStep = optimizer.stepCount;
    const totalSteps = firstStep + o.steps;
    const schedule = { peak: o.lr ?? 3e-3, warmupSteps: o.warmup ?? Math.min(20, Math.ceil(totalSteps / 10)), totalSteps, minRatio: 0.1 };
    const heldOut = heldOutBatches(data.heldout.tokens, o.evalBatches ?? 4, o.batch, o.seqLen);
    // The baseline's batches come from the same sampler as a peer's, under a fixed identity.
    const batches = roundBatches(data.train.tokens, { runId: 'centralized', round: firstStep, hotkey: `seed-${o.seed ?? 0}`, steps: o.steps, microBatches: micro, rows: o.batch, seqLen: o.seqLen });
    let done = 0;
    let heldOutLoss = NaN;
    while (done < o.steps) {
      const chunk = Math.min(evalEvery, o.steps - done);
      const offset = done;
      await loop.trainSteps({
        steps: chunk,
        microBatches: micro,
        batch: (s, m) => batches(offset + s, m),
        schedule,
        onStep: (p) => report({ step: p.step, loss: p.loss, tokensPerSecond: p.tokensPerSecond }),
      });
      done += chunk;
      heldOutLoss = await loop.evaluate(heldOut);
      report({ step: firstStep + done, heldOutLoss });
    }
    const params = await model.getParameters();
    return { heldOutLoss, modelHash: checkpointHash(model.layout, params), params, optimizer: await optimizer.getState() };
  } finally {
    optimizer.destroy();
    model.destroy();
  }
}

export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv, {
    preset: 'string',
    steps: 'number',
    batch: 'number',
    'seq-len': 'number',
    'micro-batches': 'number',
    lr: 'number',
    warmup: 'number',
    'eval-every': 'number',
    'eval-batches': 'number',
    seed: 'number',
    out: 'string',
    resume: 'string',
    json: 'boolean',
  });
  const resume = args.resume ? decodeCheckpoint(await readCheckpointDir(resolve(args.resume))) : undefined;
  const config = resume?.config ?? preset(args.preset ?? 'tiny');
  const print = (o: Record<string, unknown>) =>
    console.log(args.json ? JSON.stringify(o) : Object.entries(o).map(([k, v]) => `${k} ${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(4) : v}`).join('  '));
  const rt = new GpuRuntime(await nodeGpuDevice());
  try {
    const result = await trainCentralized(
      rt,
      {
        config,
        steps: args.steps ?? 200,
        batch: args.batch ?? 8,
        seqLen: args['seq-len'] ?? config.max_position_embeddings,
        microBatches: args['micro-batches'],
        lr: args.lr,
        warmup: args.warmup,
        evalEvery: args['eval-every'],
        evalBatches: args['eval-batches'],
        seed: args.seed,
        resume,
      },
      print,
    );
    if (args.out) {
      const dir = resolve(args.out);
      await writeCheckpointDir(dir, encodeCheckpoint({ config, params: result.params, step: result.optimizer.step, optimizer: result.optimizer, modelHash: result.modelHash }));
      print({ checkpoint: dir, modelHash: result.modelHash });
    } else {
      print({ modelHash: result.modelHash });
    }
  } finally {
    rt.destroy();
  }
}
