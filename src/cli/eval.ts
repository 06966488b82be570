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
import { parseArgs } from './args.ts';

export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv, { checkpoint: 'string', batch: 'number', 'seq-len': 'number', batches: 'number' });
  if (!args.checkpoint)
    throw new Error(`usage: webloco eval --checkpoint DIR|FILE.safetensors [--batch 4] [--seq-len S] [--batches ${ROUND_EVAL_BATCHES}]`);
  const path = resolve(args.checkpoint);
  const files = (await stat(path)).isDirectory() ? await readCheckpointDir(path) : { [MODEL_FILE]: new Uint8Array(await readFile(path)) };
  const ckpt = decodeCheckpoint(files);
  const batch = args.batch ?? 4;
  const seqLen = args['seq-len'] ?? ckpt.config.max_position_embeddings;
  const data = await ensureShards(tokenizerFor(ckpt.config));
  const rt = new GpuRuntime(await nodeGpuDevice());
  try {
    const heldOutLoss = await evaluateModel(
      rt,
      ckpt.config,
      ckpt.params,
      heldOutBatches(data.heldout.tokens, args.batches ?? ROUND_EVAL_BATCHES, batch, seqLen),
    );
    console.log(JSON.stringify({ heldOutLoss, modelHash: ckpt.modelHash, step: ckpt.step }));
  } finally {
    rt.destroy();
  }
}
