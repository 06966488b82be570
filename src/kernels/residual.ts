// Launcher for shaders/residual.wgsl.
import code from '../../shaders/residual.wgsl?raw';
import type { GpuRuntime, Program } from '../gpu/runtime.ts';
import { grid1d } from './grid.ts';

export const RESIDUAL_FORWARD: Program = {
  name: 'residual_forward',
  code,
  entryPoint: 'residual_forward',
  bindings: ['read', 'read', 'write', 'uniform'],
};

/** out[i] = a[i] + b[i] for i < n. */
export function residualForward(rt: GpuRuntime, out: GPUBuffer, a: GPUBuffer, b: GPUBuffer, n: number): void {
  for (const [name, buf] of [['out', out], ['a', a], ['b', b]] as const) {
    if (buf.size < n * 4) throw new Error(`residualForward: ${name} holds ${buf.size / 4} floats, needs ${n}`);
  }
  rt.dispatch(RESIDUAL_FORWARD, [a, b, out], [n], grid1d(rt, n, 256));
}
