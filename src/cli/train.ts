// `webloco train`: centralized single-process training on Dawn, the baseline SparseLoCo is
// measured against (src/engine/centralized.ts). One JSON line per step, held-out loss every few
// steps and at the end, and a checkpoint (safetensors + config.json) at the end.
import { resolve } from 'node:path';
import { ensureShards } from '../data/node.ts';
import { trainCentralized } from '../engine/centralized.ts';
import { tokenizerFor } from '../engine/policy.ts';
import { nodeGpuDevice } from '../gpu/node.ts';
import { GpuRuntime } from '../gpu/runtime.ts';
import { preset } from '../model/config.ts';
import { heldOutBatches } from '../train/batches.ts';
import { decodeCheckpoint, encodeCheckpoint } from '../train/checkpoint.ts';
import { readCheckpointDir, writeCheckpointDir } from '../train/checkpoint-dir.ts';
import { onOff, parseArgs, printer } from './args.ts';

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
    f16: 'string',
    json: 'boolean',
  });
  const resume = args.resume ? decodeCheckpoint(await readCheckpointDir(resolve(args.resume))) : undefined;
  const config = resume?.config ?? preset(args.preset ?? 'tiny');
  const print = printer(args.json);
  const batch = args.batch ?? 8;
  const seqLen = args['seq-len'] ?? config.max_position_embeddings;
  const data = await ensureShards(tokenizerFor(config));
  const rt = new GpuRuntime(await nodeGpuDevice(), { f16: onOff('--f16', args.f16) });
  try {
    const result = await trainCentralized(rt, {
      config,
      steps: args.steps ?? 200,
      batch,
      seqLen,
      microBatches: args['micro-batches'],
      schedule: { lr: args.lr, warmup: args.warmup },
      evalEvery: args['eval-every'],
      heldOut: heldOutBatches(data.heldout.tokens, args['eval-batches'] ?? 4, batch, seqLen),
      trainTokens: data.train.tokens,
      theta: resume?.params,
      optimizer: resume?.optimizer,
      seed: args.seed,
      onStep: (p) => print({ step: p.step, loss: p.loss, tokensPerSecond: p.tokensPerSecond }),
      onHeldOut: (step, heldOutLoss) => print({ step, heldOutLoss }),
    });
    if (args.out) {
      const dir = resolve(args.out);
      await writeCheckpointDir(
        dir,
        encodeCheckpoint({
          config,
          params: result.params,
          step: result.optimizer.step,
          optimizer: result.optimizer,
          modelHash: result.modelHash,
        }),
      );
      print({ checkpoint: dir, modelHash: result.modelHash });
    } else {
      print({ modelHash: result.modelHash });
    }
  } finally {
    rt.destroy();
  }
}
