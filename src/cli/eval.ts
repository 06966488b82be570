// `webloco eval --checkpoint PATH`: held-out loss of a checkpoint (a folder with
// model.safetensors, or the single .safetensors file a browser tab downloads) on the fixed
// held-out batches, and its model hash, as one JSON line.
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { nodeGpuDevice } from '../gpu/node.ts';
import { GpuRuntime } from '../gpu/runtime.ts';
import { LlamaModel } from '../model/model.ts';
import { heldOutBatches } from '../train/batches.ts';
import { decodeCheckpoint, MODEL_FILE } from '../train/checkpoint.ts';
import { InnerLoop } from '../train/inner-loop.ts';
import { AdamW } from '../train/optimizer.ts';
import { parseArgs } from './args.ts';
import { ensureShards, readCheckpointDir, tokenizerFor } from './train.ts';

export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv, { checkpoint: 'string', batch: 'number', 'seq-len': 'number', batches: 'number' });
  if (!args.checkpoint) throw new Error('usage: webloco eval --checkpoint DIR|FILE.safetensors [--batch 4] [--seq-len S] [--batches 2]');
  const path = resolve(args.checkpoint);
  const files = (await stat(path)).isDirectory() ? await readCheckpointDir(path) : { [MODEL_FILE]: new Uint8Array(await readFile(path)) };
  const ckpt = decodeCheckpoint(files);
  const batch = args.batch ?? 4;
  const seqLen = args['seq-len'] ?? ckpt.config.max_position_embeddings;
  const data = await ensureShards(tokenizerFor(ckpt.config.vocab_size));
  const rt = new GpuRuntime(await nodeGpuDevice());
  const model = await LlamaModel.create(rt, ckpt.config, { batch, seqLen });
  model.setParameters(ckpt.params);
  const loop = new InnerLoop(model, await AdamW.create(model));
  const heldOutLoss = await loop.evaluate(heldOutBatches(data.heldout.tokens, args.batches ?? 2, batch, seqLen));
  console.log(JSON.stringify({ heldOutLoss, modelHash: ckpt.modelHash, step: ckpt.step }));
  model.destroy();
  rt.destroy();
}
