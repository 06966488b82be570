// One GpuRuntime per test file (Vitest forks a process per file), on Dawn in Node.
import { nodeGpuDevice } from '../../src/gpu/node.ts';
import { GpuRuntime } from '../../src/gpu/runtime.ts';

let runtime: Promise<GpuRuntime> | undefined;

export function testRuntime(): Promise<GpuRuntime> {
  runtime ??= nodeGpuDevice().then((d) => new GpuRuntime(d));
  return runtime;
}

let plain: Promise<GpuRuntime> | undefined;

/**
 * A runtime on testRuntime()'s device with subgroup operations turned off: the kernels' plain
 * path, for comparing with the subgroup path where the device has subgroups. Never destroy() it.
 */
export function plainRuntime(): Promise<GpuRuntime> {
  plain ??= testRuntime().then((rt) => new GpuRuntime(rt.gpu, { subgroups: false }));
  return plain;
}

let half: Promise<GpuRuntime> | undefined;

/**
 * A runtime on testRuntime()'s device with the model's f16 path forced on (matmul operands as
 * packed halves: core WGSL, so it runs on adapters without shader-f16 too). Never destroy() it.
 */
export function f16Runtime(): Promise<GpuRuntime> {
  half ??= testRuntime().then((rt) => new GpuRuntime(rt.gpu, { f16: true }));
  return half;
}
