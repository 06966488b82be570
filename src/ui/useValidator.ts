// React hook around the tab as a Gauntlet validator of its hub's run (src/client/validator-client.ts):
// start, the report of every round it judged, what it is waiting for, stop.
import { errorMessage } from '../base/errors.ts';
import { useCallback, useEffect, useRef, useState } from 'react';
import type { TrainerWorker } from '../client/trainer-client.ts';
import { TabStore } from '../client/tab-store.ts';
import { validateRun, type RunningValidator, type ValidatedRound } from '../client/validator-client.ts';
import { pageAuthority } from './useSwarm.ts';

export type ValidatorPhase = 'idle' | 'starting' | 'validating' | 'stopped' | 'error';

export interface ValidatorState {
  phase: ValidatorPhase;
  /** What it is doing or waiting for. */
  progress: string | null;
  /** The first round it judges (the hub checkpoint's). */
  startRound: number | null;
  rounds: ValidatedRound[];
  error: string | null;
}

const idle: ValidatorState = { phase: 'idle', progress: null, startRound: null, rounds: [], error: null };

export function useValidator(worker: TrainerWorker | null, hubUrl: string) {
  const [state, setState] = useState<ValidatorState>(idle);
  const running = useRef<RunningValidator | null>(null);
  const starting = useRef(false);

  const start = useCallback(async () => {
    if (!worker || running.current || starting.current) return;
    starting.current = true;
    setState({ ...idle, phase: 'starting' });
    // The authority this browser saw at the hub first, when IndexedDB is there to remember it.
    const memory = await TabStore.open().catch(() => undefined);
    const fragment = pageAuthority().authority;
    try {
      const validator = await validateRun({
        hubUrl,
        worker,
        pin: { ...(fragment !== undefined ? { fragment } : {}), ...(memory ? { memory } : {}) },
        onProgress: (progress) => setState((s) => ({ ...s, progress })),
        onRound: (round) => setState((s) => ({ ...s, rounds: [...s.rounds, round] })),
      });
      running.current = validator;
      setState((s) => ({ ...s, phase: 'validating', startRound: validator.startRound }));
      validator.done
        .then(
          () => setState((s) => ({ ...s, phase: 'stopped', progress: null })),
          (err: unknown) => setState((s) => ({ ...s, phase: 'error', progress: null, error: errorMessage(err) })),
        )
        .finally(() => {
          if (running.current === validator) running.current = null;
        });
    } catch (err) {
      setState((s) => ({ ...s, phase: 'error', progress: null, error: errorMessage(err) }));
    } finally {
      memory?.close();
      starting.current = false;
    }
  }, [worker, hubUrl]);

  const stop = useCallback(async () => {
    const validator = running.current;
    if (!validator) return;
    setState((s) => ({ ...s, progress: 'stopping after the round being judged' }));
    await validator.stop();
  }, []);

  // Closing the panel (or the tab's React root) stops validating.
  useEffect(
    () => () => {
      void running.current?.stop();
      running.current = null;
    },
    [],
  );

  return { state, start, stop };
}
