// What a hub keeps in its data dir besides the chain (chain.sqlite), the objects (objects/) and its
// libp2p key (peer-key):
//   run.json               the run's settings, fixed when the run was created
//   state.json             the newest checkpoint of θ and every checkpoint kept (CheckpointRefs into the object store)
//   rounds/<round>.json    the public record of each decided round: its decision and every commit left out, with why
//   gauntlet/secret        the Gauntlet's secret, which its evaluation seeds come from (mode 0600, never served)
//   gauntlet/state.json    the Gauntlet's standings and recent model hashes after the last round it judged
//   gauntlet/<round>.json  the Gauntlet's published judgement of each round (for audits)
// Every file is written atomically: a hub killed at any instant restarts from the last whole one.
// A round's records and the Gauntlet's state are written before its decision goes to the chain
// (coordinator.ts), so a round the chain holds is always one the hub has saved; rounds older than
// what the hub keeps lose theirs (retention.ts).
import { chmod, readdir, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { randomHex } from '../base/hex.ts';
import { writeFileAtomically, writeJsonAtomically } from '../base/files.ts';
import type { ValidatorSnapshot } from '../gauntlet/validator.ts';
import type { CheckpointRef, JudgedRoundRecord, RoundRecord } from '../run/api.ts';
import { completeRunSettings, type RunSettings, type RunShape } from '../run/settings.ts';

interface StateFile {
  checkpoint: CheckpointRef;
  /** Every checkpoint kept, oldest first (absent in a data dir written before retention). */
  checkpoints?: CheckpointRef[];
}

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
    return (await readJson<StateFile>(join(this.path, 'state.json')))?.checkpoint;
  }

  /** Every checkpoint kept, oldest first, the newest last (empty before the first). */
  async checkpoints(): Promise<CheckpointRef[]> {
    const state = await readJson<StateFile>(join(this.path, 'state.json'));
    return state ? (state.checkpoints ?? [state.checkpoint]) : [];
  }

  /** Records the checkpoints kept; the last one is the newest. */
  saveCheckpoints(checkpoints: CheckpointRef[]): Promise<void> {
    const newest = checkpoints.at(-1);
    if (!newest) throw new RangeError('a hub keeps at least its newest checkpoint');
    return writeJsonAtomically(join(this.path, 'state.json'), { checkpoint: newest, checkpoints } satisfies StateFile);
  }

  roundRecord(round: number): Promise<RoundRecord | undefined> {
    return readJson<RoundRecord>(join(this.path, 'rounds', `${round}.json`));
  }

  saveRoundRecord(record: RoundRecord): Promise<void> {
    return writeJsonAtomically(join(this.path, 'rounds', `${record.round}.json`), record);
  }

  judgedRound(round: number): Promise<JudgedRoundRecord | undefined> {
    return readJson<JudgedRoundRecord>(join(this.path, 'gauntlet', `${round}.json`));
  }

  saveJudgedRound(round: number, record: JudgedRoundRecord): Promise<void> {
    return writeJsonAtomically(join(this.path, 'gauntlet', `${round}.json`), record);
  }

  /**
   * The Gauntlet's secret, made on first use: 32 random bytes, hex, readable by the owner only. It
   * must outlive restarts: the evaluation seeds of rounds judged before and after are all its.
   */
  async gauntletSecret(): Promise<string> {
    const file = join(this.path, 'gauntlet', 'secret');
    let secret: string | undefined;
    try {
      secret = (await readFile(file, 'utf8')).trim();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (secret === undefined) {
      secret = randomHex(32);
      await writeFileAtomically(file, `${secret}\n`, { mode: 0o600 });
    } else {
      if (!/^[0-9a-f]{64}$/.test(secret))
        throw new Error(`${file} does not hold a Gauntlet secret (64 hex digits): restore it or remove the data dir`);
      await chmod(file, 0o600); // a copy restored with looser permissions is tightened again
    }
    return secret;
  }

  /** The Gauntlet's state after the last round it judged, or undefined before the first. */
  gauntletSnapshot(): Promise<ValidatorSnapshot | undefined> {
    return readJson<ValidatorSnapshot>(join(this.path, 'gauntlet', 'state.json'));
  }

  saveGauntletSnapshot(snapshot: ValidatorSnapshot): Promise<void> {
    return writeJsonAtomically(join(this.path, 'gauntlet', 'state.json'), snapshot);
  }

  /** Removes the round records and Gauntlet judgements of every round before `round`. */
  async expireRoundsBefore(round: number): Promise<void> {
    for (const folder of ['rounds', 'gauntlet']) {
      const names = await readdir(join(this.path, folder)).catch(() => [] as string[]);
      for (const name of names) {
        const match = /^(\d+)\.json$/.exec(name);
        if (match && Number(match[1]) < round) await rm(join(this.path, folder, name), { force: true });
      }
    }
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
