// `webloco train`: centralized single-process training on Dawn, the baseline SparseLoCo is
// measured against (src/engine/centralized.ts). One JSON line per step, held-out loss every few
// steps and at the end, and a checkpoint (safetensors + config.json) at the end.
import { resolve } from 'node:path';
import { ensureShards } from '../data/node.ts';
import { trainCentralized } from '../engine/centralized.ts';
import { DEFAULT_INNER_LR, MAX_WARMUP_STEPS, tokenizerFor } from '../engine/policy.ts';
import { nodeGpuDevice } from '../gpu/node.ts';
import { GpuRuntime } from '../gpu/runtime.ts';
import { PRESETS, preset } from '../model/config.ts';
import { heldOutBatches } from '../train/batches.ts';
import { decodeCheckpoint, encodeCheckpoint } from '../train/checkpoint.ts';
import { readCheckpointDir, writeCheckpointDir } from '../train/checkpoint-dir.ts';
import { onOff, printer, type CommandSpec, type OptionValues } from './args.ts';

export const command = {
  name: 'train',
  summary: 'centralized training on this machine (the baseline); JSON lines with --json',
  options: {
    preset: { kind: 'string', default: 'tiny', help: `model preset (${Object.keys(PRESETS).join(', ')}); ignored with --resume` },
    steps: { kind: 'number', default: 200, help: 'optimizer steps to take (after the resumed ones with --resume)' },
    batch: { kind: 'number', default: 8, help: 'rows per micro-batch' },
    'seq-len': { kind: 'number', placeholder: 'N', help: "tokens per row (default: the model's context length)" },
    'micro-batches': { kind: 'number', shownDefault: 1, help: 'micro-batches of --batch rows accumulated into each step' },
    lr: { kind: 'number', shownDefault: DEFAULT_INNER_LR, help: 'peak learning rate: linear warm-up, then cosine decay to a tenth' },
    warmup: { kind: 'number', placeholder: 'N', help: `warm-up steps (default: a tenth of the steps, at most ${MAX_WARMUP_STEPS})` },
    'eval-every': { kind: 'number', shownDefault: 25, help: 'held-out loss every this many steps, and at the end' },
    'eval-batches': { kind: 'number', default: 4, help: 'held-out batches of --batch rows in each evaluation' },
    seed: { kind: 'number', shownDefault: 0, help: 'seed of the initial weights and of the training batches' },
    out: { kind: 'string', placeholder: 'DIR', help: 'write the final checkpoint (model.safetensors, config.json) to DIR' },
    resume: { kind: 'string', placeholder: 'DIR', help: 'continue from the checkpoint in DIR: its model, weights and optimizer state' },
    f16: { kind: 'string', placeholder: 'on|off', help: "f16 matmul operands (default: the runtime's, off)" },
    json: { kind: 'boolean', help: 'print one JSON object per line instead of text' },
  },
  details: [
    'Prints the loss of every step and the held-out loss every --eval-every steps, then the model hash (and the checkpoint with --out).',
  ],
} satisfies CommandSpec;

export async function run(args: OptionValues<typeof command.options>): Promise<void> {
  const f16 = onOff('--f16', args.f16); // before any work: wrong usage exits 2 at once
  const resume = args.resume ? decodeCheckpoint(await readCheckpointDir(resolve(args.resume))) : undefined;
  const config = resume?.config ?? preset(args.preset);
  const print = printer(args.json);
  const seqLen = args['seq-len'] ?? config.max_position_embeddings;
  const data = await ensureShards(tokenizerFor(config));
  const rt = new GpuRuntime(await nodeGpuDevice(), { f16 });
  try {
    const result = await trainCentralized(rt, {
      config,
      steps: args.steps,
      batch: args.batch,
      seqLen,
      microBatches: args['micro-batches'],
      schedule: { lr: args.lr, warmup: args.warmup },
      evalEvery: args['eval-every'],
      heldOut: heldOutBatches(data.heldout.tokens, args['eval-batches'], args.batch, seqLen),
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
