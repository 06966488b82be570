// A run's settings, written once: what a run is (the model, how members train a round, the chain's
// clock, how often θ is checkpointed), each setting's default, its command-line flag and its help
// text. The hub creates a run from them (and keeps them in its data dir), serves them in GET
// /api/run, and every member (a tab, `webloco peer`, a validator) trains by them; `webloco hub`'s
// and `webloco demo`'s options and help are generated from this table.
import { DEFAULT_BINDING_AGE_ROUNDS, DEFAULT_BINDING_WORK_BITS } from '../chain/extrinsics.ts';
import { preset, PRESETS } from '../model/config.ts';
import { assertRunId } from '../swarm/protocol.ts';

export interface RunSettings {
  runId: string;
  preset: string;
  /** Seed of θ_0. */
  seed: number;
  /** Rows per inner step and tokens per row. */
  batch: number;
  seqLen: number;
  /** H: inner steps a round. */
  innerSteps: number;
  /** Rounds in the run: the inner schedule spans rounds × H steps. */
  rounds: number;
  blocksPerRound: number;
  blockTimeMs: number;
  /** θ is written as a checkpoint after every this many rounds. */
  checkpointEvery: number;
  /** What registering an identity costs and how long a new one waits (the chain's genesis; docs/PROTOCOL.md). */
  bindingWorkBits: number;
  bindingAgeRounds: number;
}

export type RunSettingName = Exclude<keyof RunSettings, 'runId'>;
export type RunShape = Omit<RunSettings, 'runId'>;

export interface RunSettingSpec<K extends RunSettingName = RunSettingName> {
  /** The command-line flag, without its dashes. */
  flag: string;
  default: RunShape[K];
  help: string;
}

/**
 * Every setting with its default: a tiny-preset run on a software GPU, 10 inner steps of 4×64
 * tokens in a 30-block round of 1 s blocks, a checkpoint every round.
 */
export const RUN_SETTINGS: { readonly [K in RunSettingName]: RunSettingSpec<K> } = {
  preset: { flag: 'preset', default: 'tiny', help: `model preset (${Object.keys(PRESETS).join(', ')})` },
  seed: { flag: 'seed', default: 0, help: 'seed of θ_0' },
  batch: { flag: 'batch', default: 4, help: 'rows per inner step' },
  seqLen: { flag: 'seq-len', default: 64, help: 'tokens per row' },
  innerSteps: { flag: 'inner-steps', default: 10, help: 'H, inner AdamW steps a round' },
  rounds: { flag: 'rounds', default: 1000, help: 'rounds in the run (the inner schedule spans rounds × H steps)' },
  blocksPerRound: { flag: 'blocks-per-round', default: 30, help: "the chain's blocks in a round" },
  blockTimeMs: { flag: 'block-time-ms', default: 1000, help: 'time between blocks (ms)' },
  checkpointEvery: { flag: 'checkpoint-every', default: 1, help: 'rounds between checkpoints of θ' },
  bindingWorkBits: {
    flag: 'binding-work-bits',
    default: DEFAULT_BINDING_WORK_BITS,
    help: "proof of work a session binding's registration needs, in leading zero bits of its id (0..32; 19 is under a second of one core on average)",
  },
  bindingAgeRounds: {
    flag: 'binding-age-rounds',
    default: DEFAULT_BINDING_AGE_ROUNDS,
    help: 'rounds after its registration before a new binding may commit (none for those registered in round 0)',
  },
};

/** Settings that may be 0 (the rest are counts of at least 1), and each one's largest value. */
const ZERO_ALLOWED: Partial<Record<RunSettingName, number>> = {
  seed: Number.MAX_SAFE_INTEGER,
  bindingWorkBits: 32,
  bindingAgeRounds: 1_000_000,
};

export const RUN_SETTING_NAMES = Object.keys(RUN_SETTINGS) as RunSettingName[];

/** The defaults of every setting. */
export const DEFAULT_RUN: RunShape = Object.fromEntries(RUN_SETTING_NAMES.map((name) => [name, RUN_SETTINGS[name].default])) as RunShape;

/** The settings a tab's solo run (a swarm of one, before joining any hub) trains with: the defaults. */
export function soloRun(rounds: number): RunShape {
  return { ...DEFAULT_RUN, rounds };
}

/** Settings filled from the defaults and checked; throws saying which setting is wrong and why. */
export function completeRunSettings(runId: string, given: Partial<RunShape>): RunSettings {
  const settings: RunSettings = { ...DEFAULT_RUN, ...definedOnly(given), runId: assertRunId(runId) };
  checkRunShape(settings);
  return settings;
}

/** Throws unless every setting is usable: a known preset, positive whole numbers elsewhere (ZERO_ALLOWED's may be 0, up to their bound). */
export function checkRunShape(shape: RunShape): void {
  preset(shape.preset); // an unknown preset fails here, before anything starts
  for (const name of RUN_SETTING_NAMES) {
    if (name === 'preset') continue;
    const value = shape[name];
    const max = ZERO_ALLOWED[name];
    const min = max === undefined ? 1 : 0;
    if (!Number.isSafeInteger(value) || value < min || value > (max ?? Number.MAX_SAFE_INTEGER)) {
      const range = max === undefined ? `≥ ${min}` : `in ${min}..${max}`;
      throw new RangeError(`run setting --${RUN_SETTINGS[name].flag} must be a whole number ${range}, got ${String(value)}`);
    }
  }
}

/** The entries whose value is defined, so that defaults and stored settings fill the rest. */
function definedOnly<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Partial<T>;
}
