// What a hub keeps in its data dir besides the chain (chain.sqlite) and the objects (objects/):
//   run.json              the run's settings, fixed when the run was created
//   state.json            the newest checkpoint of θ (a CheckpointRef into the object store)
//   gauntlet/<round>.json the Gauntlet's published judgement of each round (for audits)
// Every file is written atomically: a hub killed at any instant restarts from the last whole one.
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { randomHex } from '../base/hex.ts';
import { writeJsonAtomically } from '../base/files.ts';
import type { CheckpointRef, JudgedRoundRecord } from '../run/api.ts';
import { completeRunSettings, type RunSettings, type RunShape } from '../run/settings.ts';

export class HubDataDir {
  readonly path: string;

  constructor(path: string) {
    this.path = resolve(path);
  }

  /**
   * The run's settings: the stored ones for an existing run (asked settings cannot change them),
   * else a new run from `asked` and the defaults, stored before anything starts.
   */
  async runSettings(runId: string | undefined, asked: Partial<RunShape>): Promise<RunSettings> {
    const file = join(this.path, 'run.json');
    const stored = await readJson<RunSettings>(file);
    if (stored && runId && stored.runId !== runId) {
      throw new Error(`${this.path} belongs to run '${stored.runId}', not '${runId}': use another --data-dir for a new run`);
    }
    const settings = completeRunSettings(runId ?? stored?.runId ?? `run-${new Date().toISOString().slice(0, 10)}-${randomHex(3)}`, {
      ...asked,
      ...stored,
    });
    await writeJsonAtomically(file, settings);
    return settings;
  }

  /** The newest checkpoint of θ, or undefined before the first. */
  async checkpoint(): Promise<CheckpointRef | undefined> {
    return (await readJson<{ checkpoint: CheckpointRef }>(join(this.path, 'state.json')))?.checkpoint;
  }

  saveCheckpoint(checkpoint: CheckpointRef): Promise<void> {
    return writeJsonAtomically(join(this.path, 'state.json'), { checkpoint });
  }

  judgedRound(round: number): Promise<JudgedRoundRecord | undefined> {
    return readJson<JudgedRoundRecord>(join(this.path, 'gauntlet', `${round}.json`));
  }

  saveJudgedRound(round: number, record: JudgedRoundRecord): Promise<void> {
    return writeJsonAtomically(join(this.path, 'gauntlet', `${round}.json`), record);
  }
}

/** A JSON file's value, or undefined when there is no such file. */
async function readJson<T>(file: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return JSON.parse(text) as T;
}
