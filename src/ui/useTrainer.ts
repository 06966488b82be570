// React hook around the training worker: starts it once, exposes the adapter or the reason
// WebGPU is unavailable (a page that is not a secure context gets no WebGPU at all, whatever the
// browser: that is said apart, with what to do), then runs the capability check (limits, a short
// benchmark) on it.
import { errorMessage } from '../base/errors.ts';
import { useEffect, useState } from 'react';
import { startTrainerWorker, type AdapterReport, type TrainerWorker } from '../client/trainer-client.ts';
import type { Capability } from '../client/worker.ts';

export type GpuState =
  | { status: 'starting' }
  | { status: 'ready'; adapter: AdapterReport & { hasTimestamps: boolean; f16: boolean; subgroups: boolean } }
  | { status: 'unavailable'; reason: 'insecure-context' | 'no-webgpu'; message: string };

export type CapabilityState = { status: 'measuring' } | { status: 'done'; capability: Capability } | { status: 'failed'; message: string };

const NO_WEBGPU =
  'WebGPU is not available in this browser: try Chrome or Edge 113+, or enable chrome://flags/#enable-unsafe-webgpu. ' +
  'You can still watch the swarm, but this tab cannot train.';

/** What to say on a page opened over plain HTTP off localhost: browsers give WebGPU to secure contexts only. */
function insecureContextMessage(location: Pick<Location, 'host' | 'pathname' | 'search' | 'hash'>): string {
  return (
    `This page was opened over plain HTTP at ${location.host}, so it is not a secure context and the browser gives it no WebGPU. ` +
    `Open this page over HTTPS: https://${location.host}${location.pathname}${location.search}${location.hash}. ` +
    "If that does not answer, the hub's operator needs to give it a certificate (docs/DEPLOY.md); on this machine http://localhost works too."
  );
}

function initialGpu(): GpuState {
  if (!window.isSecureContext)
    return { status: 'unavailable', reason: 'insecure-context', message: insecureContextMessage(window.location) };
  return 'gpu' in navigator ? { status: 'starting' } : { status: 'unavailable', reason: 'no-webgpu', message: NO_WEBGPU };
}

export function useTrainer(): { gpu: GpuState; worker: TrainerWorker | null; capability: CapabilityState } {
  const [gpu, setGpu] = useState<GpuState>(initialGpu);
  const [worker, setWorker] = useState<TrainerWorker | null>(null);
  const [capability, setCapability] = useState<CapabilityState>({ status: 'measuring' });

  useEffect(() => {
    if (!window.isSecureContext || !('gpu' in navigator)) return; // the initial state says so
    const w = startTrainerWorker();
    // The worker is this effect's own resource (terminated in its cleanup); the page reads it from state.
    // eslint-disable-next-line react-hooks/set-state-in-effect
    setWorker(w);
    let cancelled = false;
    // `?f16=on` puts the model on the f16 path (absent or `off`: f32, the default until a real GPU measures f16 faster).
    const f16 = new URLSearchParams(window.location.search).get('f16');
    void w.api.gpu.configure(f16 === 'on' || f16 === 'off' ? { f16: f16 === 'on' } : {});
    w.api.gpu.adapter().then(
      (adapter) => {
        if (cancelled) return;
        setGpu({ status: 'ready', adapter });
        w.api.gpu.capability().then(
          (c) => !cancelled && setCapability({ status: 'done', capability: c }),
          (err: unknown) => !cancelled && setCapability({ status: 'failed', message: errorMessage(err) }),
        );
      },
      (err: unknown) =>
        !cancelled && setGpu({ status: 'unavailable', reason: 'no-webgpu', message: err instanceof Error ? err.message : NO_WEBGPU }),
    );
    return () => {
      cancelled = true;
      w.terminate();
    };
  }, []);

  return { gpu, worker, capability };
}
