// One GpuRuntime per test file (Vitest forks a process per file), on Dawn in Node.
import { nodeGpuDevice } from '../../src/gpu/node.ts';
import { GpuRuntime } from '../../src/gpu/runtime.ts';

let runtime: Promise<GpuRuntime> | undefined;

export function testRuntime(): Promise<GpuRuntime> {
  runtime ??= nodeGpuDevice().then((d) => new GpuRuntime(d));
  return runtime;
}
