// React hook around the worker's training session: init, train with live progress,
// pause/resume/stop, and checkpoints as downloads.
import * as Comlink from 'comlink';
import { useCallback, useReducer } from 'react';
import type { TrainerWorker } from '../client/trainer-client.ts';
import type { TrainEvent } from '../client/worker.ts';
import { initialTraining, trainingReducer } from './training-state.ts';

export const TAB_PRESET = { preset: 'tiny', batch: 4, seqLen: 64 } as const;

/** The whole loss curve, for tests and the console (the chart keeps its own copy in state). */
function recordLoss(loss: number): void {
  const w = window as unknown as { __trainingLosses?: number[] };
  (w.__trainingLosses ??= []).push(loss);
}

export function useTraining(worker: TrainerWorker | null) {
  const [state, dispatch] = useReducer(trainingReducer, initialTraining);
  const fail = (err: unknown) => dispatch({ type: 'failed', message: err instanceof Error ? err.message : String(err) });

  const start = useCallback(
    async (steps: number) => {
      if (!worker) return;
      try {
        if (!state.info) {
          dispatch({ type: 'load' });
          dispatch({ type: 'loaded', info: await worker.api.init({ ...TAB_PRESET }) });
        }
        dispatch({ type: 'start' });
        await worker.api.train(
          { steps, evalEvery: 10 },
          Comlink.proxy((event: TrainEvent) => {
            if (event.kind === 'step') recordLoss(event.loss);
            dispatch({ type: 'event', event });
          }),
        );
        dispatch({ type: 'finished' });
      } catch (err) {
        fail(err);
      }
    },
    [worker, state.info],
  );

  const pause = useCallback(() => {
    dispatch({ type: 'pause' });
    void worker?.api.pause();
  }, [worker]);
  const resume = useCallback(() => {
    dispatch({ type: 'resume' });
    void worker?.api.resume();
  }, [worker]);
  const stop = useCallback(() => {
    dispatch({ type: 'stop' });
    void worker?.api.cancel();
  }, [worker]);

  const saveCheckpoint = useCallback(async () => {
    if (!worker) return;
    try {
      const c = await worker.api.checkpoint();
      // One file is enough: WebLoCo writes the config into the safetensors metadata too.
      const url = URL.createObjectURL(new Blob([c.files['model.safetensors']! as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
      dispatch({ type: 'checkpoint', checkpoint: { step: c.step, modelHash: c.modelHash, heldOutLoss: c.heldOutLoss, url } });
    } catch (err) {
      fail(err);
    }
  }, [worker]);

  return { state, start, pause, resume, stop, saveCheckpoint };
}
