// Runs in headless Chromium (driven by `webloco bench kernels`): times our WGSL matmul and
// tfjs-backend-webgpu's matMul on the same shapes, same browser, same device, same method
// (wall time from the first dispatch to onSubmittedWorkDone, after a warm-up).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { browserGpuDevice } from '../src/gpu/browser.ts';
import { GpuRuntime } from '../src/gpu/runtime.ts';
import { matmul } from '../src/kernels/matmul.ts';
import { matmulFlopsOf, type MatmulShape } from './shapes.ts';

export interface MatmulResult extends MatmulShape {
  oursGflops: number;
  tfjsGflops: number;
  ratio: number;
  maxAbsDiff: number;
}

async function timeReps(run: () => void, sync: () => Promise<void>, budgetMs: number): Promise<number> {
  run(); // warm-up: pipeline compile, buffer pools
  await sync();
  let t0 = performance.now();
  run();
  await sync();
  const once = performance.now() - t0;
  const reps = Math.max(1, Math.min(50, Math.floor(budgetMs / Math.max(once, 0.01))));
  t0 = performance.now();
  for (let i = 0; i < reps; i++) run();
  await sync();
  return (performance.now() - t0) / reps;
}

function randomMatrix(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

async function benchMatmuls(shapes: MatmulShape[], budgetMs: number, log: (s: string) => void): Promise<MatmulResult[]> {
  const rt = new GpuRuntime(await browserGpuDevice());
  tf.env().set('WEBGPU_CPU_FORWARD', false);
  await tf.setBackend('webgpu');
  const backend = tf.backend() as WebGPUBackend;
  const results: MatmulResult[] = [];
  for (const s of shapes) {
    const aData = randomMatrix(s.M * s.K, 1);
    const bData = randomMatrix(s.K * s.N, 2);
    const a = rt.upload(aData);
    const b = rt.upload(bData);
    const out = rt.acquire(s.M * s.N * 4);
    const ours = await timeReps(() => matmul(rt, { out, a, b, M: s.M, N: s.N, K: s.K, transA: s.transA, transB: s.transB }), () => rt.sync(), budgetMs);
    const oursOut = await rt.readF32(out, 0, s.M * s.N);

    const ta = tf.tensor2d(aData, s.transA ? [s.K, s.M] : [s.M, s.K]);
    const tb = tf.tensor2d(bData, s.transB ? [s.N, s.K] : [s.K, s.N]);
    const tfjs = await timeReps(
      () => tf.matMul(ta, tb, s.transA, s.transB).dispose(),
      async () => {
        backend.submitQueue();
        await backend.device.queue.onSubmittedWorkDone();
      },
      budgetMs,
    );
    const check = tf.matMul(ta, tb, s.transA, s.transB);
    const tfjsOut = (await check.data()) as Float32Array;
    let maxAbsDiff = 0;
    for (let i = 0; i < tfjsOut.length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(tfjsOut[i]! - oursOut[i]!));
    tf.dispose([ta, tb, check]);
    for (const buf of [a, b, out]) rt.release(buf);
    rt.trimPool();

    const flops = matmulFlopsOf(s);
    const r: MatmulResult = { ...s, oursGflops: flops / ours / 1e6, tfjsGflops: flops / tfjs / 1e6, ratio: tfjs / ours, maxAbsDiff };
    log(JSON.stringify(r));
    results.push(r);
  }
  rt.destroy();
  return results;
}

const logEl = document.getElementById('log')!;
const api = {
  adapter: async () => {
    const gpu = await browserGpuDevice();
    const report = gpu.adapter;
    gpu.device.destroy();
    return report;
  },
  benchMatmuls: (shapes: MatmulShape[], budgetMs: number) => benchMatmuls(shapes, budgetMs, (line) => (logEl.textContent += `\n${line}`)),
};
(window as unknown as { webloco: typeof api }).webloco = api;
logEl.textContent = 'ready';
