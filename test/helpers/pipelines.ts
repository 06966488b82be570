// Whether warmed-up work compiles pipelines when it runs: a pipeline missing from the
// ahead-of-time list compiles synchronously inside the hot loop (seconds each on a software GPU).
import type { GpuRuntime } from '../../src/gpu/runtime.ts';

export interface PipelinesCompiled {
  /** Growth of rt.pipelineCount over the work. */
  count: number;
  /** What was compiled on the spot: "name#entryPoint {constants}" per pipeline. */
  programs: string[];
}

/**
 * Runs `work` (which should read something back or sync, so its dispatches are submitted) and
 * reports the pipelines it added to rt's cache. Compiles on the spot go through the device's
 * createComputePipeline, which is wrapped meanwhile to name them in a failure message.
 */
export async function pipelinesCompiledDuring(rt: GpuRuntime, work: () => Promise<void>): Promise<PipelinesCompiled> {
  await rt.sync();
  const before = rt.pipelineCount;
  const programs: string[] = [];
  const device = rt.device;
  const createComputePipeline = device.createComputePipeline.bind(device);
  device.createComputePipeline = (descriptor: GPUComputePipelineDescriptor) => {
    programs.push(`${descriptor.label}#${descriptor.compute.entryPoint} ${JSON.stringify(descriptor.compute.constants ?? {})}`);
    return createComputePipeline(descriptor);
  };
  try {
    await work();
    await rt.sync();
  } finally {
    device.createComputePipeline = createComputePipeline;
  }
  return { count: rt.pipelineCount - before, programs };
}
