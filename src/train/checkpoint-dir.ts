// Checkpoints as folders on disk (Node): model.safetensors, config.json and, when present,
// optimizer.safetensors, written and read as the bytes checkpoint.ts makes and checks.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomically } from '../base/files.ts';
import { CONFIG_FILE, MODEL_FILE, OPTIMIZER_FILE, type CheckpointFiles } from './checkpoint.ts';

export async function readCheckpointDir(dir: string): Promise<CheckpointFiles> {
  const files: CheckpointFiles = {};
  for (const name of [MODEL_FILE, CONFIG_FILE, OPTIMIZER_FILE]) {
    try {
      files[name] = new Uint8Array(await readFile(join(dir, name)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return files;
}

/** Each file is written atomically, so a crash never leaves half a file. */
export async function writeCheckpointDir(dir: string, files: CheckpointFiles): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) {
    await writeFileAtomically(join(dir, name), bytes);
  }
}
