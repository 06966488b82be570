// A quick proof that this device computes what the model needs: one product through the same
// matmul kernel the model's forward and backward use, on small integers (every partial sum is
// exact in f32, so any difference from the CPU is a fault, not rounding).
import type { GpuRuntime } from '../gpu/runtime.ts';
import { matmul } from '../kernels/matmul.ts';

export interface SelfTestResult {
  /** Values compared. */
  n: number;
  maxAbsError: number;
  ok: boolean;
}

/** out[M,N] = a[M,K]·b[K,N] on the GPU against the CPU; odd sizes take the kernel's bounds checks. */
export async function gpuSelfTest(rt: GpuRuntime, M = 37, N = 111, K = 29): Promise<SelfTestResult> {
  const a = Float32Array.from({ length: M * K }, (_, i) => ((i * 7) % 11) - 5);
  const b = Float32Array.from({ length: K * N }, (_, i) => ((i * 5) % 9) - 4);
  const ga = rt.upload(a, 'self-test-a');
  const gb = rt.upload(b, 'self-test-b');
  const out = rt.acquire(M * N * 4, 'self-test-out');
  try {
    matmul(rt, { out, a: ga, b: gb, M, N, K });
    const got = await rt.readF32(out, 0, M * N);
    let maxAbsError = 0;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let sum = 0;
        for (let k = 0; k < K; k++) sum += a[i * K + k]! * b[k * N + j]!;
        maxAbsError = Math.max(maxAbsError, Math.abs(got[i * N + j]! - sum));
      }
    }
    return { n: M * N, maxAbsError, ok: maxAbsError === 0 };
  } finally {
    for (const buffer of [ga, gb, out]) rt.release(buffer);
  }
}
