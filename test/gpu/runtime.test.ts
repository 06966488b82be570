// The GPU runtime on Dawn in Node: a real WGSL kernel against its CPU reference, batching,
// the pipeline cache, the buffer pool and timestamps.
import { describe, expect, it } from 'vitest';
import { GpuRuntime, type DispatchCost, type Program } from '../../src/gpu/runtime.ts';
import { summarizeProfile } from '../../src/gpu/profile.ts';
import { grid1d } from '../../src/kernels/grid.ts';
import { expectAllClose } from '../helpers/allclose.ts';
import { testRuntime } from '../helpers/gpu.ts';
import { randn } from '../helpers/random.ts';

// The smallest kernel that exercises the runtime: two inputs, an output and a uniform, on the
// 2-D grid that grid1d gives large tensors.
const ADD: Program = {
  name: 'test_add',
  code: `
struct Params { n: u32 }
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
@compute @workgroup_size(256)
fn add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i < params.n) { out[i] = a[i] + b[i]; }
}`,
  entryPoint: 'add',
  bindings: ['read', 'read', 'write', 'uniform'],
};

/** out[i] = a[i] + b[i] for i < n. */
function add(rt: GpuRuntime, out: GPUBuffer, a: GPUBuffer, b: GPUBuffer, n: number, cost?: DispatchCost): void {
  rt.dispatch(ADD, [a, b, out], [n], grid1d(rt, n, 256), cost);
}

describe('GpuRuntime on Dawn', () => {
  it('finds an adapter and reports the limits the model needs', async () => {
    const rt = await testRuntime();
    const report = rt.gpu.adapter;
    expect(report.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
    // The device got the adapter's maximum, not WebGPU's 128 MiB default.
    expect(rt.limits.maxStorageBufferBindingSize).toBe(report.limits.maxStorageBufferBindingSize);
  });

  it('runs a WGSL kernel and matches the CPU reference exactly, on an odd size', async () => {
    const rt = await testRuntime();
    const n = 1000 + 37;
    const a = randn(n, 1);
    const b = randn(n, 2);
    const ga = rt.upload(a);
    const gb = rt.upload(b);
    const out = rt.acquire(n * 4);
    add(rt, out, ga, gb, n);
    const got = await rt.readF32(out, 0, n);
    const expected = Float64Array.from(a, (x, i) => x + b[i]!);
    // One f32 addition: correctly rounded, so within half an ulp of the float64 sum.
    expectAllClose(got, expected, { atol: 0, rtol: 2 ** -24 });
  });

  it('batches many dispatches into one submit and caches the pipeline', async () => {
    // Unsplit: under a budget, the runtime may cut a batch it measured slow (test/gpu/submissions.test.ts).
    const rt = new GpuRuntime((await testRuntime()).gpu, { submissionBudgetMs: Infinity });
    await rt.compileAll([ADD, ADD]);
    const pipelinesBefore = rt.pipelineCount;
    const n = 64;
    const ones = rt.upload(new Float32Array(n).fill(1));
    const x = rt.upload(new Float32Array(n));
    const y = rt.acquire(n * 4);
    const submitsBefore = rt.submitCount;
    for (let i = 0; i < 50; i++) add(rt, i % 2 ? x : y, i % 2 ? y : x, ones, n);
    const got = await rt.readF32(y, 0, n); // the 50th dispatch (i = 49) wrote x; y holds 49
    expect(rt.submitCount - submitsBefore).toBe(1);
    expect(rt.pipelineCount).toBe(pipelinesBefore);
    expect([...got].every((v) => v === 49)).toBe(true);
  });

  it('reuses pooled buffers of the same size', async () => {
    const rt = await testRuntime();
    const a = rt.acquire(1234);
    rt.release(a);
    expect(rt.acquire(1234)).toBe(a);
  });

  it('times a pass with GPU timestamps where the adapter has them', async () => {
    const rt = await testRuntime();
    const n = 4096;
    const a = rt.upload(randn(n, 3));
    const out = rt.acquire(n * 4);
    const t = await rt.time(() => add(rt, out, a, a, n));
    expect(t.source).toBe(rt.gpu.hasTimestamps ? 'timestamp' : 'wall');
    expect(t.ms).toBeGreaterThanOrEqual(0);
  });

  it('profiles every dispatch in its own timed pass, with the same results as a batched run', async (ctx) => {
    const rt = await testRuntime();
    if (!rt.gpu.hasTimestamps) {
      console.warn('profile test skipped: this adapter has no timestamp-query');
      ctx.skip();
    }
    const n = 3000;
    const a = rt.upload(randn(n, 4));
    const b = rt.upload(randn(n, 5));
    const batched = rt.acquire(n * 4);
    const profiled = rt.acquire(n * 4);
    const chain = (out: GPUBuffer, cost?: (i: number) => DispatchCost) => {
      // out = a + b, then out2 = out + a twice: each dispatch reads the previous one's result.
      const tmp = rt.acquire(n * 4);
      add(rt, tmp, a, b, n, cost?.(0));
      add(rt, out, tmp, a, n, cost?.(1));
      add(rt, tmp, out, a, n, cost?.(2));
      add(rt, out, tmp, b, n, cost?.(3));
      rt.release(tmp);
    };
    chain(batched);
    const expected = await rt.readF32(batched, 0, n);
    const dispatchesBefore = rt.dispatchCount;
    rt.startProfile();
    chain(profiled, (i) => ({ label: i % 2 === 0 ? 'even' : 'odd', flops: n, bytes: 12 * n }));
    const dispatches = await rt.stopProfile();
    expect(rt.dispatchCount - dispatchesBefore).toBe(4);
    expect(await rt.readF32(profiled, 0, n)).toEqual(expected);
    expect(dispatches.map((d) => d.label)).toEqual(['even', 'odd', 'even', 'odd']);
    for (const d of dispatches) expect(d.ms).toBeGreaterThanOrEqual(0);

    const summary = summarizeProfile(dispatches, { tflops: 1, gbps: 100 });
    expect(summary.dispatches).toBe(4);
    expect(summary.rows.map((r) => r.calls)).toEqual([2, 2]);
    expect(summary.rows.reduce((s, r) => s + r.share, 0)).toBeCloseTo(summary.totalMs > 0 ? 1 : 0, 9);
    for (const r of summary.rows) {
      expect(r.flops).toBe(2 * n);
      expect(r.bytes).toBe(24 * n);
      // An add moves 12 bytes per flop: bandwidth, not arithmetic, is the bound at these peaks.
      if (r.ms > 0) expect(r.bound).toBe('memory');
    }
    // Profiling is over: the next dispatches batch into one pass again, and the untimed path is unaffected.
    expect(rt.isProfiling).toBe(false);
    await expect(rt.stopProfile()).rejects.toThrow(/not profiling/);
  });

  it('profiles more dispatches than one query set holds (2,048), in order', async (ctx) => {
    const rt = await testRuntime();
    if (!rt.gpu.hasTimestamps) {
      console.warn('profile test skipped: this adapter has no timestamp-query');
      ctx.skip();
    }
    const n = 64;
    const one = rt.upload(new Float32Array(n).fill(1));
    const x = rt.upload(new Float32Array(n));
    const y = rt.acquire(n * 4);
    rt.startProfile();
    // x ← x + 1 through y, 2,100 times: the result counts the dispatches that ran.
    for (let i = 0; i < 1050; i++) {
      add(rt, y, x, one, n, { label: 'to y' });
      add(rt, x, y, one, n, { label: 'to x' });
    }
    const dispatches = await rt.stopProfile();
    expect(dispatches).toHaveLength(2100);
    expect(dispatches[2048]!.label).toBe('to y');
    expect(dispatches.every((d) => d.ms >= 0)).toBe(true);
    expect((await rt.readF32(x, 0, n))[0]).toBe(2100);
  });

  it('summarizes a profile by kernel, slowest first, against the peaks given', () => {
    const summary = summarizeProfile(
      [
        { label: 'matmul', flops: 2e9, bytes: 1e6, ms: 2, submission: 7, kind: 'training step', estimatedMs: 1 },
        { label: 'norm', flops: 1e6, bytes: 4e8, ms: 1, submission: 7, kind: 'training step', estimatedMs: 1 },
        { label: 'matmul', flops: 2e9, bytes: 1e6, ms: 2, submission: 8, kind: 'training step', estimatedMs: 1 },
      ],
      { tflops: 2, gbps: 800 },
    );
    expect(summary.totalMs).toBe(5);
    expect(summary.rows.map((r) => r.kernel)).toEqual(['matmul', 'norm']);
    const [matmul, norm] = summary.rows;
    expect(matmul!.calls).toBe(2);
    expect(matmul!.share).toBeCloseTo(0.8, 12);
    expect(matmul!.gflops).toBeCloseTo(1000, 9); // 4e9 flops in 4 ms
    expect(matmul!.bound).toBe('compute');
    expect(matmul!.ofPeak).toBeCloseTo(0.5, 12);
    expect(norm!.gbps).toBeCloseTo(400, 9); // 4e8 bytes in 1 ms
    expect(norm!.bound).toBe('memory');
    expect(norm!.ofPeak).toBeCloseTo(0.5, 12);
    expect(summary.submissions).toBe(2);
    expect(summary.longestSubmission).toEqual({ kind: 'training step', ms: 3, dispatches: 2, slowest: 'matmul' });
    expect(summary.longestDispatch!.ms).toBe(2);
    expect(
      summarizeProfile([{ label: 'x', flops: 1, bytes: 1, ms: 1, submission: 0, kind: 'other', estimatedMs: 1 }]).rows[0]!.ofPeak,
    ).toBeNull();
  });
});

describe('rejected commands', () => {
  it('surface as a GpuCommandError at the next readback instead of silent zeros', async () => {
    const rt = await testRuntime();
    const n = 64;
    const shared = rt.acquire(n * 4 * 2);
    // The same buffer bound read-only and writable in one dispatch: WebGPU rejects it.
    add(rt, shared, shared, shared, n);
    await expect(rt.readF32(shared, 0, n)).rejects.toThrow(/WebGPU rejected/);
    // The error is reported once; the runtime keeps working.
    const ok = rt.upload(new Float32Array(n).fill(2));
    const out = rt.acquire(n * 4);
    add(rt, out, ok, ok, n);
    expect((await rt.readF32(out, 0, n))[0]).toBe(4);
  });
});
