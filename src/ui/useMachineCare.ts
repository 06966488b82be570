// React hook that keeps the tab's training in step with the volunteer's machine: it listens to
// the Battery Status API, the Compute Pressure API (source 'cpu'), the Idle Detection API (where
// permission is granted) or the person's input and the page's visibility, holds the settings and
// the person's own pause in localStorage, and turns them into one decision through machine-care.ts: pause while any reason
// holds, and the duty cycle the worker gets. These APIs are Chromium's; where one is missing its
// signal is unknown and nothing pauses for it.
import { useCallback, useEffect, useMemo, useState } from 'react';
import {
  effectiveDutyCycle,
  isAway,
  pauseReasons,
  PERSON_PAUSED_KEY,
  readSettings,
  writeSettings,
  type CareSettings,
  type MachineSignals,
  type PressureState,
} from './machine-care.ts';

// The three APIs are not in TypeScript's DOM library yet: the members used here.
interface BatteryManager extends EventTarget {
  readonly charging: boolean;
}
interface PressureObserverLike {
  observe(source: 'cpu'): Promise<void>;
  disconnect(): void;
}
type PressureObserverConstructor = new (callback: (records: { state: PressureState }[]) => void) => PressureObserverLike;
interface IdleDetectorLike extends EventTarget {
  readonly userState: 'active' | 'idle' | null;
  readonly screenState: 'locked' | 'unlocked' | null;
  start(options: { threshold: number; signal: AbortSignal }): Promise<void>;
}
interface IdleDetectorConstructor {
  new (): IdleDetectorLike;
  requestPermission(): Promise<PermissionState>;
}
const browser = globalThis as unknown as {
  PressureObserver?: PressureObserverConstructor;
  IdleDetector?: IdleDetectorConstructor;
  navigator: Navigator & { getBattery?: () => Promise<BatteryManager> };
};

/** 'unsupported': the browser has no such API; otherwise the permission's state. */
export type IdlePermission = PermissionState | 'unsupported';

/** The Idle Detection API's shortest threshold: a minute. */
const MIN_IDLE_THRESHOLD_MS = 60_000;
const INPUT_EVENTS = ['pointerdown', 'pointermove', 'keydown', 'wheel', 'touchstart'] as const;

function loadSettings(): CareSettings {
  try {
    return readSettings((key) => localStorage.getItem(key));
  } catch {
    return readSettings(() => null); // storage refused (a private window): the defaults
  }
}

function saveSettings(settings: CareSettings): void {
  try {
    writeSettings(settings, (key, value) => localStorage.setItem(key, value));
  } catch {
    // Private windows may refuse storage: the settings then last until the tab closes.
  }
}

function loadPersonPaused(): boolean {
  try {
    return localStorage.getItem(PERSON_PAUSED_KEY) === 'true';
  } catch {
    return false; // storage refused: not paused, as a fresh tab
  }
}

function savePersonPaused(paused: boolean): void {
  try {
    localStorage.setItem(PERSON_PAUSED_KEY, String(paused));
  } catch {
    // Private windows may refuse storage: the pause then lasts until the tab closes.
  }
}

/** Whether the computer runs on its battery: null where the browser cannot tell (or has not said yet). */
function useBattery(): { supported: boolean; onBattery: boolean | null } {
  const supported = typeof browser.navigator.getBattery === 'function';
  const [onBattery, setOnBattery] = useState<boolean | null>(null);
  useEffect(() => {
    if (!supported) return;
    let battery: BatteryManager | undefined;
    let closed = false;
    const update = () => battery && setOnBattery(!battery.charging);
    browser.navigator.getBattery!().then(
      (b) => {
        if (closed) return;
        battery = b;
        b.addEventListener('chargingchange', update);
        update();
      },
      () => {}, // refused (a permissions policy): the power source stays unknown
    );
    return () => {
      closed = true;
      battery?.removeEventListener('chargingchange', update);
    };
  }, [supported]);
  return { supported, onBattery };
}

/** The CPU's pressure as the Compute Pressure API reports it; 'unknown' without the API or before its first reading. */
function usePressure(): PressureState {
  const [pressure, setPressure] = useState<PressureState>('unknown');
  useEffect(() => {
    const Observer = browser.PressureObserver;
    if (!Observer) return;
    const observer = new Observer((records) => {
      const last = records.at(-1);
      if (last) setPressure(last.state);
    });
    // Refused where the platform cannot measure it (NotSupportedError): the state stays unknown.
    observer.observe('cpu').catch(() => {});
    return () => observer.disconnect();
  }, []);
  return pressure;
}

function useHidden(): boolean {
  const [hidden, setHidden] = useState(() => document.hidden);
  useEffect(() => {
    const update = () => setHidden(document.hidden);
    document.addEventListener('visibilitychange', update);
    return () => document.removeEventListener('visibilitychange', update);
  }, []);
  return hidden;
}

/**
 * The Idle Detection API's verdict while `enabled` and permitted (null otherwise), the permission,
 * and a way to ask for it (from a click: the browser requires one).
 */
function useIdleDetection(enabled: boolean, minutes: number) {
  const supported = browser.IdleDetector !== undefined;
  const [permission, setPermission] = useState<IdlePermission>(supported ? 'prompt' : 'unsupported');
  const [idle, setIdle] = useState<'active' | 'idle' | null>(null);

  useEffect(() => {
    if (!supported) return;
    let status: PermissionStatus | undefined;
    const update = () => status && setPermission(status.state);
    navigator.permissions.query({ name: 'idle-detection' as PermissionName }).then(
      (s) => {
        status = s;
        s.addEventListener('change', update);
        update();
      },
      () => {}, // a browser that cannot query this permission: asking still works
    );
    return () => status?.removeEventListener('change', update);
  }, [supported]);

  useEffect(() => {
    const Detector = browser.IdleDetector;
    if (!enabled || !Detector || permission !== 'granted') return;
    const stop = new AbortController();
    const detector = new Detector();
    const update = () => setIdle(detector.userState === 'idle' || detector.screenState === 'locked' ? 'idle' : 'active');
    detector.addEventListener('change', update);
    detector.start({ threshold: Math.max(MIN_IDLE_THRESHOLD_MS, minutes * 60_000), signal: stop.signal }).then(update, () => {
      setIdle(null); // refused after all: the input and visibility fallback decides
    });
    return () => {
      stop.abort();
      detector.removeEventListener('change', update);
      setIdle(null);
    };
  }, [enabled, minutes, permission]);

  const ask = useCallback(async () => {
    if (browser.IdleDetector) setPermission(await browser.IdleDetector.requestPermission());
  }, []);
  return { idle: enabled && permission === 'granted' ? idle : null, permission, ask };
}

/** True once no pointer or keyboard input has come for `minutes` (while `enabled`); input ends it at once. */
function useQuiet(enabled: boolean, minutes: number): boolean {
  const [quiet, setQuiet] = useState(false);
  useEffect(() => {
    if (!enabled) return;
    let timer = setTimeout(() => setQuiet(true), minutes * 60_000);
    const onInput = () => {
      clearTimeout(timer);
      setQuiet(false);
      timer = setTimeout(() => setQuiet(true), minutes * 60_000);
    };
    for (const e of INPUT_EVENTS) window.addEventListener(e, onInput, { passive: true });
    return () => {
      clearTimeout(timer);
      for (const e of INPUT_EVENTS) window.removeEventListener(e, onInput);
      setQuiet(false);
    };
  }, [enabled, minutes]);
  return quiet;
}

export function useMachineCare({
  paused,
  active,
  setPaused,
  setDutyCycle,
  atDataCap,
}: {
  /** Whether the tab holds the GPU now (the swarm's state). */
  paused: boolean;
  /** In the swarm: only then does the worker take a duty cycle. */
  active: boolean;
  setPaused: (p: boolean) => Promise<void>;
  setDutyCycle: (d: number) => Promise<void>;
  /** A data cap is used up (useDataCaps): paused for it until its period turns. */
  atDataCap: boolean;
}) {
  const [settings, setSettings] = useState(loadSettings);
  const [personPaused, setPersonPausedState] = useState(loadPersonPaused);
  const setPersonPaused = useCallback((paused: boolean) => {
    savePersonPaused(paused);
    setPersonPausedState(paused);
  }, []);
  const battery = useBattery();
  const pressure = usePressure();
  const hidden = useHidden();
  const idleDetection = useIdleDetection(settings.idleOnly, settings.idleMinutes);
  const quiet = useQuiet(settings.idleOnly && idleDetection.idle === null, settings.idleMinutes);

  const signals: MachineSignals = useMemo(
    () => ({ onBattery: battery.onBattery, pressure, hidden, away: isAway({ idle: idleDetection.idle, hidden, quiet }) }),
    [battery.onBattery, pressure, hidden, idleDetection.idle, quiet],
  );
  const reasons = useMemo(() => pauseReasons(personPaused, settings, signals, atDataCap), [personPaused, settings, signals, atDataCap]);
  const dutyCycle = effectiveDutyCycle(settings.intensity, pressure);

  // Compared with the swarm's state rather than remembered: a join or a leave resets that state,
  // and this puts it back.
  const hold = reasons.size > 0;
  useEffect(() => {
    if (hold !== paused) void setPaused(hold);
  }, [hold, paused, setPaused]);

  useEffect(() => {
    if (active) void setDutyCycle(dutyCycle);
  }, [active, dutyCycle, setDutyCycle]);

  const update = useCallback((change: Partial<CareSettings>) => {
    setSettings((s) => {
      const next = { ...s, ...change };
      saveSettings(next);
      return next;
    });
  }, []);

  return {
    settings,
    update,
    personPaused,
    setPersonPaused,
    reasons,
    signals,
    dutyCycle,
    batterySupported: battery.supported,
    idlePermission: idleDetection.permission,
    /** The browser's idle detection is what decides "away" (else the input and visibility fallback). */
    idleDetecting: idleDetection.idle !== null,
    askIdlePermission: idleDetection.ask,
  };
}

export type MachineCare = ReturnType<typeof useMachineCare>;
