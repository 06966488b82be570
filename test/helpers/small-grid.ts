// A GpuRuntime on the test device that reports a tiny maxComputeWorkgroupsPerDimension, so the
// launchers' 2-D grid folding (needed for tensors past 65,535 workgroups) can be checked on
// small shapes instead of tens of millions of elements on a software GPU. Only the reported
// limit shrinks; the real device (and its real limit, which dispatch also checks) is unchanged.
import { GpuRuntime } from '../../src/gpu/runtime.ts';
import { testRuntime } from './gpu.ts';

class SmallGridRuntime extends GpuRuntime {
  private readonly smallLimits: GPUSupportedLimits;

  constructor(base: GpuRuntime, maxWorkgroupsPerDimension: number) {
    super(base.gpu);
    this.smallLimits = new Proxy(base.limits, {
      get: (target, key): unknown => (key === 'maxComputeWorkgroupsPerDimension' ? maxWorkgroupsPerDimension : Reflect.get(target, key)),
    });
  }

  override get limits(): GPUSupportedLimits {
    return this.smallLimits;
  }
}

/** Shares the device of testRuntime(); never destroy() it (that would destroy the shared device). */
export async function smallGridRuntime(maxWorkgroupsPerDimension: number): Promise<GpuRuntime> {
  return new SmallGridRuntime(await testRuntime(), maxWorkgroupsPerDimension);
}
