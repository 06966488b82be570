// The volunteer's machine comes first: why the tab is paused (a set of reasons, each from its own
// source, so that one ending never lifts another), how hard the GPU may work (an intensity preset,
// halved under serious CPU pressure), whether the person counts as away, whether a data cap is used
// up (data-caps.ts decides; the tab then stops exchanging until its period turns), and the settings behind
// it all as they are kept in localStorage, and what the tab tells its hub of it. Pure:
// useMachineCare feeds it the browser's signals.
import type { PeerStatusReport } from '../client/swarm-client.ts';
import { PAUSE_REASONS } from '../identity/peer-status.ts';

/** Why the tab is not training. It trains only while there is none. */
export type PauseReason = 'person' | 'battery' | 'heat' | 'present' | 'hidden' | 'cap';

/** The Compute Pressure API's states for the CPU, and 'unknown' where the browser has no such API. */
export type PressureState = 'nominal' | 'fair' | 'serious' | 'critical' | 'unknown';

export type IntensityPreset = 'quiet' | 'balanced' | 'full';

/** The duty cycle (share of time the GPU may work) of each preset. */
export const PRESET_DUTY: Record<IntensityPreset, number> = { quiet: 0.25, balanced: 0.6, full: 1 };

export interface CareSettings {
  intensity: IntensityPreset;
  /** Keep training while the computer runs on its battery (off: pause until it charges). */
  trainOnBattery: boolean;
  /** Train only while the person is away from the computer. */
  idleOnly: boolean;
  /** Without the browser's idle detection, no pointer or keyboard input for this long counts as away. */
  idleMinutes: number;
  pauseWhenHidden: boolean;
}

export const DEFAULT_SETTINGS: CareSettings = {
  intensity: 'full',
  trainOnBattery: false,
  idleOnly: false,
  idleMinutes: 5,
  pauseWhenHidden: false,
};

/** What the browser says about the machine and the person; `null` where it cannot tell. */
export interface MachineSignals {
  /** true: discharging; false: charging or on mains; null: no Battery Status API. */
  onBattery: boolean | null;
  pressure: PressureState;
  /** The person is away (idle detection, or the fallback of `isAway`). */
  away: boolean;
  hidden: boolean;
}

/**
 * Every reason to hold the GPU now: the person's own pause, whatever the machine's state calls for,
 * and a used-up data cap (`atDataCap`: holding the GPU before the next step holds the round, so the
 * tab fetches and serves nothing more, and θ, its optimizer state and e stay as they are).
 */
export function pauseReasons(personPaused: boolean, settings: CareSettings, signals: MachineSignals, atDataCap = false): Set<PauseReason> {
  const reasons = new Set<PauseReason>();
  if (personPaused) reasons.add('person');
  if (signals.onBattery === true && !settings.trainOnBattery) reasons.add('battery');
  if (signals.pressure === 'critical') reasons.add('heat');
  if (settings.idleOnly && !signals.away) reasons.add('present');
  if (settings.pauseWhenHidden && signals.hidden) reasons.add('hidden');
  if (atDataCap) reasons.add('cap');
  return reasons;
}

/** The duty cycle given to the worker: the preset's, halved while the CPU is under serious pressure. */
export function effectiveDutyCycle(intensity: IntensityPreset, pressure: PressureState): number {
  const duty = PRESET_DUTY[intensity];
  return pressure === 'serious' ? duty / 2 : duty;
}

/**
 * Whether the person is away. The browser's idle detection, where permitted, is the answer (`idle`
 * not null); otherwise a hidden page, or `quiet`: no pointer or keyboard input for the set minutes.
 */
export function isAway(input: { idle: 'active' | 'idle' | null; hidden: boolean; quiet: boolean }): boolean {
  if (input.idle !== null) return input.idle === 'idle';
  return input.hidden || input.quiet;
}

const KEYS: Record<keyof CareSettings, string> = {
  intensity: 'webloco.intensityPreset',
  trainOnBattery: 'webloco.trainOnBattery',
  idleOnly: 'webloco.idleOnly',
  idleMinutes: 'webloco.idleMinutes',
  pauseWhenHidden: 'webloco.pauseWhenHidden',
};

/** The person's own pause, kept beside the settings: a reload does not start a tab its person paused. */
export const PERSON_PAUSED_KEY = 'webloco.personPaused';

/** The settings as `read` (localStorage.getItem) holds them; anything missing or malformed is the default. */
export function readSettings(read: (key: string) => string | null): CareSettings {
  const flag = (key: keyof CareSettings, fallback: boolean) => {
    const v = read(KEYS[key]);
    return v === 'true' ? true : v === 'false' ? false : fallback;
  };
  const intensity = read(KEYS.intensity);
  const minutes = Number(read(KEYS.idleMinutes));
  return {
    intensity: intensity !== null && intensity in PRESET_DUTY ? (intensity as IntensityPreset) : DEFAULT_SETTINGS.intensity,
    trainOnBattery: flag('trainOnBattery', DEFAULT_SETTINGS.trainOnBattery),
    idleOnly: flag('idleOnly', DEFAULT_SETTINGS.idleOnly),
    idleMinutes: validIdleMinutes(minutes) ? minutes : DEFAULT_SETTINGS.idleMinutes,
    pauseWhenHidden: flag('pauseWhenHidden', DEFAULT_SETTINGS.pauseWhenHidden),
  };
}

/** The key and text each setting is stored as, for `write` (localStorage.setItem). */
export function writeSettings(settings: CareSettings, write: (key: string, value: string) => void): void {
  for (const key of Object.keys(KEYS) as (keyof CareSettings)[]) write(KEYS[key], String(settings[key]));
}

/** Whole minutes from 1 to a day: shorter would pause at every pause in typing. */
export function validIdleMinutes(minutes: number): boolean {
  return Number.isInteger(minutes) && minutes >= 1 && minutes <= 1440;
}

/** The tab's own reasons in the words of the peer-status protocol (docs/PROTOCOL.md, "Peer status"). */
const STATUS_REASON: Record<PauseReason, PeerStatusReport['reasons'][number]> = {
  person: 'user',
  hidden: 'hidden',
  battery: 'battery',
  heat: 'heat',
  present: 'idle',
  cap: 'cap',
};

/**
 * What the tab tells its hub about itself: paused with its reasons in the protocol's order (a GPU
 * being recovered counts as one), else training at its duty cycle.
 */
export function statusReport(
  reasons: ReadonlySet<PauseReason>,
  dutyCycle: number,
  pressure: PressureState,
  gpu: { recovering: boolean; recovered: number },
): PeerStatusReport {
  const said = new Set<PeerStatusReport['reasons'][number]>([...reasons].map((r) => STATUS_REASON[r]));
  if (gpu.recovering) said.add('gpu');
  const ordered = PAUSE_REASONS.filter((r) => said.has(r));
  return {
    state: ordered.length > 0 ? 'paused' : 'training',
    reasons: ordered,
    intensity: Math.round(dutyCycle * 100),
    pressure,
    gpuRecoveries: gpu.recovered,
  };
}
