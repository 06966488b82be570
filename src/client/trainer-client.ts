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

/**
 * Calls `onLost` with the reason each time the worker's GPU device is lost (a driver reset, a GPU
 * process crash); returns the function that stops watching. The worker's next call that needs the
 * GPU opens a new adapter and device.
 */
export function watchDeviceLoss(worker: TrainerWorker, onLost: (message: string) => void): () => void {
  const id = worker.api.gpu.watchDeviceLoss(Comlink.proxy(onLost));
  return () => void id.then((watchId) => worker.api.gpu.unwatchDeviceLoss(watchId)).catch(() => {}); // a terminated worker watches nothing
}
