// `webloco eval --checkpoint PATH`: held-out loss of a checkpoint (a folder with
// model.safetensors, or the single .safetensors file a browser tab downloads) on the fixed
// held-out batches, and its model hash, as one JSON line.
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ensureShards } from '../data/node.ts';
import { evaluateModel } from '../engine/evaluate.ts';
import { ROUND_EVAL_BATCHES, tokenizerFor } from '../engine/policy.ts';
import { nodeGpuDevice } from '../gpu/node.ts';
import { GpuRuntime } from '../gpu/runtime.ts';
import { heldOutBatches } from '../train/batches.ts';
import { decodeCheckpoint, MODEL_FILE } from '../train/checkpoint.ts';
import { readCheckpointDir } from '../train/checkpoint-dir.ts';
import type { CommandSpec, OptionValues } from './args.ts';

export const command = {
  name: 'eval',
  summary: 'held-out loss and model hash of a checkpoint (folder or .safetensors file)',
  options: {
    checkpoint: {
      kind: 'string',
      placeholder: 'DIR|FILE.safetensors',
      help: "the checkpoint: a folder with model.safetensors, or the .safetensors file a tab's download gives",
    },
    batch: { kind: 'number', default: 4, help: 'rows per held-out batch' },
    'seq-len': { kind: 'number', placeholder: 'N', help: "tokens per row (default: the model's context length)" },
    batches: { kind: 'number', default: ROUND_EVAL_BATCHES, help: 'held-out batches to evaluate (the fixed first ones)' },
  },
  required: ['checkpoint'],
  details: ['Prints one JSON line: {"heldOutLoss", "modelHash", "step"}.'],
} satisfies CommandSpec;

export async function run(args: OptionValues<typeof command.options>): Promise<void> {
  const path = resolve(args.checkpoint!); // required: parseCommand has checked it
  const files = (await stat(path)).isDirectory() ? await readCheckpointDir(path) : { [MODEL_FILE]: new Uint8Array(await readFile(path)) };
  const ckpt = decodeCheckpoint(files);
  const seqLen = args['seq-len'] ?? ckpt.config.max_position_embeddings;
  const data = await ensureShards(tokenizerFor(ckpt.config));
  const rt = new GpuRuntime(await nodeGpuDevice());
  try {
    const heldOutLoss = await evaluateModel(
      rt,
      ckpt.config,
      ckpt.params,
      heldOutBatches(data.heldout.tokens, args.batches, args.batch, seqLen),
    );
    console.log(JSON.stringify({ heldOutLoss, modelHash: ckpt.modelHash, step: ckpt.step }));
  } finally {
    rt.destroy();
  }
}
