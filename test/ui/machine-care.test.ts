// The tab's care for the volunteer's machine: the pause is a set of reasons and one ending never
// lifts another; serious CPU pressure halves the preset's duty cycle; idle detection decides
// "away" where it answers, the input and visibility fallback otherwise; settings survive a round
// trip through storage and malformed values fall back to the defaults.
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SETTINGS,
  effectiveDutyCycle,
  isAway,
  pauseReasons,
  readSettings,
  statusReport,
  writeSettings,
  type CareSettings,
  type MachineSignals,
} from '../../src/ui/machine-care.ts';

const calm: MachineSignals = { onBattery: false, pressure: 'nominal', away: false, hidden: false };
const reasons = (personPaused: boolean, signals: Partial<MachineSignals>, settings: Partial<CareSettings> = {}) => [
  ...pauseReasons(personPaused, { ...DEFAULT_SETTINGS, ...settings }, { ...calm, ...signals }),
];

describe('pause reasons', () => {
  it('trains only when nothing holds it', () => {
    expect(reasons(false, {})).toEqual([]);
    expect(reasons(false, { pressure: 'fair' })).toEqual([]);
    expect(reasons(false, { pressure: 'serious' })).toEqual([]);
  });

  it("keeps the person's own pause when the battery charges again", () => {
    expect(reasons(true, { onBattery: true })).toEqual(['person', 'battery']);
    expect(reasons(true, { onBattery: false })).toEqual(['person']);
  });

  it('keeps the battery pause when the person resumes', () => {
    expect(reasons(false, { onBattery: true })).toEqual(['battery']);
  });

  it('pauses on battery only by default, and never where the browser cannot tell', () => {
    expect(reasons(false, { onBattery: true }, { trainOnBattery: true })).toEqual([]);
    expect(reasons(false, { onBattery: null })).toEqual([]);
  });

  it('pauses for heat at critical pressure, and lifting it leaves the other reasons', () => {
    expect(reasons(false, { pressure: 'critical', onBattery: true })).toEqual(['battery', 'heat']);
    expect(reasons(false, { pressure: 'nominal', onBattery: true })).toEqual(['battery']);
    expect(reasons(false, { pressure: 'unknown' })).toEqual([]);
  });

  it('in idle-only mode, holds while the person is present', () => {
    expect(reasons(false, { away: false }, { idleOnly: true })).toEqual(['present']);
    expect(reasons(false, { away: true }, { idleOnly: true })).toEqual([]);
    expect(reasons(false, { away: false }, { idleOnly: false })).toEqual([]);
  });

  it('pauses while hidden only when asked to', () => {
    expect(reasons(false, { hidden: true })).toEqual([]);
    expect(reasons(false, { hidden: true }, { pauseWhenHidden: true })).toEqual(['hidden']);
  });

  it('holds at a used-up data cap, beside and apart from every other reason', () => {
    const settings = { ...DEFAULT_SETTINGS, pauseWhenHidden: true };
    expect([...pauseReasons(false, settings, calm, true)]).toEqual(['cap']);
    expect([...pauseReasons(true, settings, { ...calm, hidden: true }, true)]).toEqual(['person', 'hidden', 'cap']);
    expect([...pauseReasons(true, settings, { ...calm, hidden: true }, false)]).toEqual(['person', 'hidden']);
  });
});

describe('effective duty cycle', () => {
  it('is the preset’s, halved under serious pressure only', () => {
    expect(effectiveDutyCycle('quiet', 'nominal')).toBe(0.25);
    expect(effectiveDutyCycle('balanced', 'fair')).toBe(0.6);
    expect(effectiveDutyCycle('full', 'unknown')).toBe(1);
    expect(effectiveDutyCycle('full', 'serious')).toBe(0.5);
    expect(effectiveDutyCycle('quiet', 'serious')).toBe(0.125);
    // Critical pauses instead (a reason): the duty cycle for when it eases stays the preset's.
    expect(effectiveDutyCycle('balanced', 'critical')).toBe(0.6);
  });
});

describe('away', () => {
  it("takes the browser's idle detection as the answer where it gives one", () => {
    expect(isAway({ idle: 'idle', hidden: false, quiet: false })).toBe(true);
    expect(isAway({ idle: 'active', hidden: true, quiet: true })).toBe(false);
  });

  it('otherwise counts a hidden page or no input for the set minutes', () => {
    expect(isAway({ idle: null, hidden: false, quiet: false })).toBe(false);
    expect(isAway({ idle: null, hidden: true, quiet: false })).toBe(true);
    expect(isAway({ idle: null, hidden: false, quiet: true })).toBe(true);
  });
});

describe('settings in storage', () => {
  it('round-trips every setting', () => {
    const store = new Map<string, string>();
    const settings: CareSettings = { intensity: 'quiet', trainOnBattery: true, idleOnly: true, idleMinutes: 12, pauseWhenHidden: true };
    writeSettings(settings, (k, v) => store.set(k, v));
    expect(readSettings((k) => store.get(k) ?? null)).toEqual(settings);
  });

  it('falls back to the defaults: pause on battery, full intensity, idle-only off, 5 minutes', () => {
    expect(readSettings(() => null)).toEqual(DEFAULT_SETTINGS);
    expect(DEFAULT_SETTINGS).toMatchObject({ trainOnBattery: false, intensity: 'full', idleOnly: false, idleMinutes: 5 });
    expect(readSettings(() => 'nonsense')).toEqual(DEFAULT_SETTINGS);
    expect(readSettings((k) => (k.endsWith('idleMinutes') ? '0' : null)).idleMinutes).toBe(5);
    expect(readSettings((k) => (k.endsWith('idleMinutes') ? '2.5' : null)).idleMinutes).toBe(5);
  });

  it('reads the pause-while-hidden setting the page kept before presets existed', () => {
    expect(readSettings((k) => (k === 'webloco.pauseWhenHidden' ? 'true' : null)).pauseWhenHidden).toBe(true);
  });

  it("tells the hub the tab's reasons in the protocol's words and order, else that it trains at its duty cycle", () => {
    const gpu = { recovering: false, recovered: 2 };
    expect(statusReport(new Set(), 0.3, 'serious', gpu)).toEqual({
      state: 'training',
      reasons: [],
      intensity: 30,
      pressure: 'serious',
      gpuRecoveries: 2,
    });
    const paused = statusReport(new Set(['cap', 'present', 'battery', 'person', 'hidden', 'heat']), 1, 'critical', {
      ...gpu,
      recovering: true,
    });
    expect(paused).toMatchObject({ state: 'paused', reasons: ['user', 'hidden', 'battery', 'heat', 'idle', 'cap', 'gpu'] });
    expect(statusReport(new Set(['cap']), 1, 'nominal', gpu)).toMatchObject({ state: 'paused', reasons: ['cap'] });
  });
});
