// Launchers for shaders/swiglu.wgsl: the SwiGLU activation out = silu(gate)·up, forward and
// backward (which overwrites dGate and dUp, as scratch activation gradients).
import code from '../../shaders/swiglu.wgsl?raw';
import { refBytes, type BufferRef, type GpuRuntime, type Program } from '../gpu/runtime.ts';
import { grid1d } from './grid.ts';

const WG = 256;

const SWIGLU_FORWARD: Program = {
  name: 'swiglu_forward',
  code,
  entryPoint: 'swiglu_forward',
  bindings: ['read', 'read', 'write', 'uniform'],
  constants: { WG },
};
const SWIGLU_BACKWARD: Program = {
  name: 'swiglu_backward',
  code,
  entryPoint: 'swiglu_backward',
  bindings: ['read', 'read', 'read', 'write', 'write', 'uniform'],
  constants: { WG },
};
export const SWIGLU_PROGRAMS: readonly Program[] = [SWIGLU_FORWARD, SWIGLU_BACKWARD];

function requireFloats(op: string, n: number, buffers: Record<string, BufferRef>): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`${op}: n must be a positive integer, got ${n}`);
  for (const [name, ref] of Object.entries(buffers)) {
    if (refBytes(ref) < n * 4)
      throw new Error(`${op}: ${name} holds ${refBytes(ref) / 4} floats but n = ${n}; allocate it with the MLP's [T, hidden] shape.`);
  }
}

/** out[i] = silu(gate[i])·up[i] for i < n. */
export function swigluForward(rt: GpuRuntime, args: { out: BufferRef; gate: BufferRef; up: BufferRef; n: number }): void {
  const { out, gate, up, n } = args;
  requireFloats('swigluForward', n, { out, gate, up });
  rt.dispatch(SWIGLU_FORWARD, [gate, up, out], [n], grid1d(rt, n, WG), { bytes: 12 * n });
}

/** dGate = dOut·up·silu'(gate), dUp = dOut·silu(gate) for i < n; both overwritten. */
export function swigluBackward(
  rt: GpuRuntime,
  args: { dGate: BufferRef; dUp: BufferRef; dOut: BufferRef; gate: BufferRef; up: BufferRef; n: number },
): void {
  const { dGate, dUp, dOut, gate, up, n } = args;
  requireFloats('swigluBackward', n, { dGate, dUp, dOut, gate, up });
  rt.dispatch(SWIGLU_BACKWARD, [dOut, gate, up, dGate, dUp], [n], grid1d(rt, n, WG), { bytes: 20 * n });
}
