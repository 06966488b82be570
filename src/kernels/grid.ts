// Dispatch shapes shared by the launchers.
import type { GpuRuntime } from '../gpu/runtime.ts';

/**
 * Workgroups for `n` threads in groups of `wg`, folded into a 2-D grid when one dimension would
 * exceed the device limit. Shaders index `gid.x + gid.y * num_workgroups.x * wg`.
 */
export function grid1d(rt: GpuRuntime, n: number, wg: number): [number, number] {
  const groups = Math.ceil(n / wg);
  const max = rt.limits.maxComputeWorkgroupsPerDimension;
  if (groups <= max) return [groups, 1];
  const y = Math.ceil(groups / max);
  return [Math.ceil(groups / y), y];
}

export function ceilDiv(a: number, b: number): number {
  return Math.ceil(a / b);
}
