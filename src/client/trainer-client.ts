// Main-thread handle on the training worker.
import * as Comlink from 'comlink';
import type { WorkerApi } from './worker.ts';

/** What the worker reports about its GPU; the UI takes the type from here, never from src/gpu. */
export type { AdapterReport } from '../gpu/device.ts';

export interface TrainerWorker {
  api: Comlink.Remote<WorkerApi>;
  terminate(): void;
}

export function startTrainerWorker(): TrainerWorker {
  const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'webloco-trainer' });
  const api = Comlink.wrap<WorkerApi>(worker);
  return {
    api,
    terminate() {
      api[Comlink.releaseProxy]();
      worker.terminate();
    },
  };
}
