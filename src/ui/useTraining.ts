// React hook around the worker's peer: a solo SparseLoCo run with live progress, pause/resume/
// stop, and checkpoints as downloads.
import { errorMessage } from '../base/errors.ts';
import * as Comlink from 'comlink';
import { useCallback, useReducer } from 'react';
import type { TrainerWorker } from '../client/trainer-client.ts';
import type { TrainEvent } from '../client/worker.ts';
import { soloRun } from '../run/settings.ts';
import { initialTraining, trainingReducer } from './training-state.ts';

export function useTraining(worker: TrainerWorker | null) {
  const [state, dispatch] = useReducer(trainingReducer, initialTraining);
  const fail = (err: unknown) => dispatch({ type: 'failed', message: errorMessage(err) });

  /** Runs the rest of the current run, or starts a new run of `rounds` rounds. */
  const start = useCallback(
    async (rounds: number) => {
      if (!worker) return;
      try {
        let info = state.info;
        if (!info || state.phase === 'finished' || info.rounds !== rounds) {
          dispatch({ type: 'load' });
          info = await worker.api.solo.init(soloRun(rounds));
          dispatch({ type: 'loaded', info });
        }
        dispatch({ type: 'start' });
        const result = await worker.api.solo.train(
          rounds,
          Comlink.proxy((event: TrainEvent) => dispatch({ type: 'event', event })),
        );
        dispatch({ type: 'stopped', runComplete: result.runComplete });
      } catch (err) {
        fail(err);
      }
    },
    [worker, state.info, state.phase],
  );

  const pause = useCallback(() => {
    dispatch({ type: 'pause' });
    void worker?.api.controls.pause();
  }, [worker]);
  const resume = useCallback(() => {
    dispatch({ type: 'resume' });
    void worker?.api.controls.resume();
  }, [worker]);
  const stop = useCallback(() => {
    dispatch({ type: 'stop' });
    void worker?.api.controls.cancel();
  }, [worker]);

  const saveCheckpoint = useCallback(async () => {
    if (!worker) return;
    try {
      const c = await worker.api.solo.checkpoint();
      // One file is enough: WebLoCo writes the config into the safetensors metadata too.
      const url = URL.createObjectURL(
        new Blob([c.files['model.safetensors']! as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }),
      );
      dispatch({ type: 'checkpoint', checkpoint: { step: c.step, modelHash: c.modelHash, heldOutLoss: c.heldOutLoss, url } });
    } catch (err) {
      fail(err);
    }
  }, [worker]);

  return { state, start, pause, resume, stop, saveCheckpoint };
}
