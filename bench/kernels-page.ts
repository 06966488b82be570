// Runs in headless Chromium (driven by `npm run bench:kernels`): times our WGSL matmul and
// tfjs-backend-webgpu's matMul on the same shapes, same browser, same device, same method
// (wall time from the first dispatch to the last product read back, after a warm-up).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import { browserGpuDevice } from '../src/gpu/browser.ts';
import { GpuRuntime } from '../src/gpu/runtime.ts';
import { matmul } from '../src/kernels/matmul.ts';
import { exposeBenchApi, logLine } from './page.ts';
import { matmulFlopsOf, type MatmulShape } from './shapes.ts';

export interface MatmulResult extends MatmulShape {
  oursGflops: number;
  tfjsGflops: number;
  ratio: number;
  /** Largest |ours − float64 reference| and |tfjs − reference| (NaN when too large to check). */
  oursMaxError: number;
  tfjsMaxError: number;
}

/** float64 reference of op(a)·op(b), only for shapes small enough to check in the page. */
function referenceMatmul(s: MatmulShape, a: Float32Array, b: Float32Array): Float64Array | null {
  if (s.M * s.N * s.K > 3e7) return null;
  const out = new Float64Array(s.M * s.N);
  for (let i = 0; i < s.M; i++) {
    for (let k = 0; k < s.K; k++) {
      const av = s.transA ? a[k * s.M + i]! : a[i * s.K + k]!;
      for (let j = 0; j < s.N; j++) out[i * s.N + j]! += av * (s.transB ? b[j * s.K + k]! : b[k * s.N + j]!);
    }
  }
  return out;
}

function maxError(got: Float32Array, want: Float64Array | null): number {
  if (!want) return NaN;
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  return worst;
}

/**
 * Times `run` (which records one product and returns its result) after a warm-up, repeated to
 * fill about `budgetMs`. `finish` reads back the last result: the queue is in order, so its
 * readback waits for every product before it. Both implementations pay that one readback, and
 * the value read back is what gets checked against the reference.
 */
async function timeReps<T>(
  run: () => T,
  finish: (last: T) => Promise<Float32Array>,
  release: (r: T) => void,
  budgetMs: number,
): Promise<{ ms: number; out: Float32Array }> {
  let results = [run()];
  await finish(results[0]!);
  results.forEach(release);
  let t0 = performance.now();
  results = [run()];
  await finish(results[0]!);
  const once = performance.now() - t0;
  results.forEach(release);
  const reps = Math.max(1, Math.min(50, Math.floor(budgetMs / Math.max(once, 0.01))));
  results = [];
  t0 = performance.now();
  for (let i = 0; i < reps; i++) results.push(run());
  const out = await finish(results.at(-1)!);
  const ms = (performance.now() - t0) / reps;
  // Released only after the timed readback: tfjs gives wrong results when a tensor still in its
  // open command batch is disposed and its buffer reused.
  results.forEach(release);
  return { ms, out };
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
  const results: MatmulResult[] = [];
  for (const s of shapes) {
    const aData = randomMatrix(s.M * s.K, 1);
    const bData = randomMatrix(s.K * s.N, 2);
    const a = rt.upload(aData);
    const b = rt.upload(bData);
    const out = rt.acquire(s.M * s.N * 4);
    const ours = await timeReps(
      () => matmul(rt, { out, a, b, M: s.M, N: s.N, K: s.K, transA: s.transA, transB: s.transB }),
      () => rt.readF32(out, 0, s.M * s.N),
      () => {},
      budgetMs,
    );

    const ta = tf.tensor2d(aData, s.transA ? [s.K, s.M] : [s.M, s.K]);
    const tb = tf.tensor2d(bData, s.transB ? [s.N, s.K] : [s.K, s.N]);
    const tfjs = await timeReps(
      () => tf.matMul(ta, tb, s.transA, s.transB),
      async (last) => (await last.data()) as Float32Array,
      (t) => t.dispose(),
      budgetMs,
    );
    const reference = referenceMatmul(s, aData, bData);
    tf.dispose([ta, tb]);
    for (const buf of [a, b, out]) rt.release(buf);
    rt.trimPool();

    const flops = matmulFlopsOf(s);
    const r: MatmulResult = {
      ...s,
      oursGflops: flops / ours.ms / 1e6,
      tfjsGflops: flops / tfjs.ms / 1e6,
      ratio: tfjs.ms / ours.ms,
      oursMaxError: maxError(ours.out, reference),
      tfjsMaxError: maxError(tfjs.out, reference),
    };
    log(JSON.stringify(r));
    results.push(r);
  }
  rt.destroy();
  return results;
}

const page = {
  benchMatmuls: (shapes: MatmulShape[], budgetMs: number) => benchMatmuls(shapes, budgetMs, logLine),
};
export type KernelsPage = typeof page;
exposeBenchApi(page);
