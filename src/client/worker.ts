// The training worker: owns the GPU device and every kernel; the main thread talks to it through
// Comlink (RTCPeerConnection does not exist in workers, so networking stays on the main thread).
import * as Comlink from 'comlink';
import { browserGpuDevice } from '../gpu/browser.ts';
import type { AdapterReport } from '../gpu/device.ts';
import { GpuRuntime } from '../gpu/runtime.ts';
import { residualForward } from '../kernels/residual.ts';

let runtime: Promise<GpuRuntime> | undefined;

function getRuntime(): Promise<GpuRuntime> {
  runtime ??= browserGpuDevice().then((gpu) => {
    void gpu.lost.then((err) => {
      runtime = undefined;
      console.error(err.message);
    });
    return new GpuRuntime(gpu);
  });
  // A failed start must not poison later attempts (the user may enable WebGPU and retry).
  runtime.catch(() => (runtime = undefined));
  return runtime;
}

export interface SelfTestResult {
  n: number;
  maxAbsError: number;
  ok: boolean;
}

const api = {
  /** The adapter this worker's device runs on; throws WebGpuUnavailableError without WebGPU. */
  async adapter(): Promise<AdapterReport & { hasTimestamps: boolean }> {
    const rt = await getRuntime();
    return { ...rt.gpu.adapter, hasTimestamps: rt.gpu.hasTimestamps };
  },

  /** Runs a WGSL kernel on random data and compares it with the CPU result. */
  async selfTest(n = 4099): Promise<SelfTestResult> {
    const rt = await getRuntime();
    const a = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 3);
    const b = Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.7));
    const ga = rt.upload(a);
    const gb = rt.upload(b);
    const out = rt.acquire(n * 4);
    residualForward(rt, out, ga, gb, n);
    const got = await rt.readF32(out, 0, n);
    for (const buf of [ga, gb, out]) rt.release(buf);
    let maxAbsError = 0;
    for (let i = 0; i < n; i++) maxAbsError = Math.max(maxAbsError, Math.abs(got[i]! - Math.fround(a[i]! + b[i]!)));
    return { n, maxAbsError, ok: maxAbsError === 0 };
  },
};

export type WorkerApi = typeof api;

Comlink.expose(api);
