// Launchers for shaders/adamw.wgsl: the global gradient norm (for clipping) and the AdamW step.
// A training step calls globalNormSquared once over every gradient tensor, then adamw once per
// parameter group (weights with decay, norm weights without); the clip factor is derived from the
// norm on the GPU, so nothing is read back unless the caller wants to log the norm (readGradNorm).
import code from '../../shaders/adamw.wgsl?raw';
import { sliceRef, type BufferRef, type GpuRuntime, type Program } from '../gpu/runtime.ts';
import { ceilDiv, grid1d } from './grid.ts';
import { requireCount, requireFloats } from './checks.ts';
import { reducingProgram } from './reduce.ts';

const WG = 256;
/** Threads of the norm's reduction workgroups: a short tree (SwiftShader switches every thread at each barrier). */
const NORM_WG = 64;
/** Gradients summed by one norm_partial workgroup (one partial float each). */
const NORM_CHUNK = 4096;
/** Floats per 256 bytes: a slice of a binding must start at a multiple of it. */
const SLICE_ALIGN = 64;

function normProgram(rt: GpuRuntime, entryPoint: 'norm_partial' | 'norm_final', subgroups: boolean): Program {
  return reducingProgram(
    rt,
    { name: entryPoint, code, entryPoint, bindings: ['read', 'write', 'uniform'], constants: { WG: NORM_WG, CHUNK: NORM_CHUNK } },
    subgroups,
  );
}

/** The AdamW update (element-wise: the module's plain variant). */
function adamwStepProgram(rt: GpuRuntime): Program {
  return reducingProgram(
    rt,
    {
      name: 'adamw_step',
      code,
      entryPoint: 'adamw_step',
      bindings: ['write', 'read', 'write', 'write', 'read', 'uniform'],
      constants: { WG },
    },
    false,
  );
}

/** One gradient tensor: `n` floats at the start of `grad` (a whole buffer or a slice). */
export interface GradientPart {
  grad: BufferRef;
  n: number;
}

export interface GlobalNormSquaredArgs {
  /** Written: out[0] = Σ g² over every part. At least one float. */
  out: BufferRef;
  parts: readonly GradientPart[];
}

/**
 * Σ g² over all parts into out[0], in two deterministic passes (per-chunk partial sums, then one
 * fixed-order sum), so equal inputs always give the same bits. A NaN or ±Inf gradient makes the
 * result NaN or Inf, and then adamw's clip factor is 0 or NaN: check the logged norm.
 */
export function globalNormSquared(rt: GpuRuntime, args: GlobalNormSquaredArgs): void {
  const { out, parts } = args;
  if (parts.length === 0) throw new Error('globalNormSquared: no gradient parts given; pass every gradient tensor of the model.');
  requireFloats('globalNormSquared', 'out', out, 1);
  const offsets: number[] = [];
  let partialCount = 0;
  parts.forEach(({ grad, n }, index) => {
    requireCount('globalNormSquared', `parts[${index}].n`, n);
    requireFloats('globalNormSquared', `parts[${index}].grad`, grad, n);
    offsets.push(partialCount);
    partialCount += ceilDiv(n, NORM_CHUNK);
  });
  const partials = rt.acquire(partialCount * 4, 'norm-partials');
  parts.forEach(({ grad, n }, index) => {
    // A part too long for one submission runs in slices of whole chunks: the same partials.
    const chunks = ceilDiv(n, NORM_CHUNK);
    const program = normProgram(rt, 'norm_partial', rt.subgroups);
    const chunksPerSlice = ceilDiv(chunks, rt.slicesFor(program, { shape: `${n}`, flops: 2 * n, bytes: 4 * n }));
    for (let chunk = 0; chunk < chunks; chunk += chunksPerSlice) {
      const start = chunk * NORM_CHUNK;
      const floats = Math.min(n - start, chunksPerSlice * NORM_CHUNK);
      rt.dispatch(
        program,
        [start === 0 && floats === n ? grad : sliceRef(grad, start, floats), partials],
        [floats, offsets[index]! + chunk],
        grid1d(rt, ceilDiv(floats, NORM_CHUNK), 1),
        { shape: `${n}`, flops: 2 * floats, bytes: 4 * floats },
      );
    }
  });
  rt.dispatch(normProgram(rt, 'norm_final', rt.subgroups), [partials, out], [partialCount], [1], { bytes: 4 * partialCount });
  // Safe to reuse at once: anything that acquires it later is recorded after these dispatches.
  rt.release(partials);
}

/** ‖g‖₂ from a globalNormSquared result: one 4-byte readback, for logging. */
export async function readGradNorm(rt: GpuRuntime, normSquared: BufferRef): Promise<number> {
  const bytes = 'buffer' in normSquared ? await rt.read(normSquared.buffer, normSquared.offset, 4) : await rt.read(normSquared, 0, 4);
  return Math.sqrt(new Float32Array(bytes)[0]!);
}

/**
 * One parameter group's tensors, whole buffers or slices. params, m and v are written, so none of
 * them may live in the same GPUBuffer as grads or normSquared (WebGPU rejects a buffer bound
 * writable and read-only in one dispatch); keep parameters, gradients and moments in separate
 * allocations.
 */
export interface AdamWArgs {
  /** [n] f32, updated in place. */
  params: BufferRef;
  /** [n] f32, read only (the clip factor is applied on the fly). */
  grads: BufferRef;
  /** [n] f32 first and second moments, updated in place; zero them before step 1. */
  m: BufferRef;
  v: BufferRef;
  n: number;
  /** out[0] of globalNormSquared over ALL gradients; required when maxNorm is finite. */
  normSquared?: BufferRef;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1 on the first step (bias correction 1 − β^step). */
  step: number;
  /** Clip the global gradient norm to this; Infinity (the default) turns clipping off. */
  maxNorm?: number;
}

/**
 * One torch.optim.AdamW step (PyTorch's order: param *= 1 − lr·weightDecay, then the Adam update
 * with bias-corrected moments), on gradients scaled by torch's clip_grad_norm_ factor
 * min(1, maxNorm / (‖g‖ + 1e-6)) computed on the GPU from normSquared.
 */
export function adamw(rt: GpuRuntime, args: AdamWArgs): void {
  const { params, grads, m, v, n, normSquared, lr, beta1, beta2, eps, weightDecay, step } = args;
  const maxNorm = args.maxNorm ?? Infinity;
  requireCount('adamw', 'n', n);
  requireCount('adamw', 'step', step);
  for (const [name, ref] of [
    ['params', params],
    ['grads', grads],
    ['m', m],
    ['v', v],
  ] as const) {
    requireFloats('adamw', name, ref, n);
  }
  for (const [name, value] of [
    ['lr', lr],
    ['eps', eps],
    ['weightDecay', weightDecay],
  ] as const) {
    if (!(Number.isFinite(value) && value >= 0)) throw new Error(`adamw: ${name} must be a finite number ≥ 0, got ${value}`);
  }
  for (const [name, value] of [
    ['beta1', beta1],
    ['beta2', beta2],
  ] as const) {
    if (!(value >= 0 && value < 1)) throw new Error(`adamw: ${name} must lie in [0, 1), got ${value}`);
  }
  if (!(maxNorm > 0)) throw new Error(`adamw: maxNorm must be > 0 (Infinity turns clipping off), got ${maxNorm}`);
  const clip = Number.isFinite(maxNorm);
  if (clip && !normSquared)
    throw new Error('adamw: clipping (finite maxNorm) needs normSquared from globalNormSquared over all gradients.');
  if (normSquared) requireFloats('adamw', 'normSquared', normSquared, 1);

  const uniforms = new ArrayBuffer(40);
  new Uint32Array(uniforms, 0, 2).set([n, clip ? 1 : 0]);
  new Float32Array(uniforms, 8, 8).set([
    lr,
    beta1,
    beta2,
    eps,
    weightDecay,
    clip ? maxNorm : 0,
    lr / (1 - beta1 ** step),
    Math.sqrt(1 - beta2 ** step),
  ]);
  // A group too long for one submission is updated in slices (element-wise: the same bits).
  const program = adamwStepProgram(rt);
  const slices = rt.slicesFor(program, { shape: `${n}`, flops: 14 * n, bytes: 28 * n });
  const sliceFloats = slices === 1 ? n : Math.ceil(n / slices / SLICE_ALIGN) * SLICE_ALIGN;
  for (let start = 0; start < n; start += sliceFloats) {
    const floats = Math.min(sliceFloats, n - start);
    const bind = (ref: BufferRef) => (floats === n ? ref : sliceRef(ref, start, floats));
    new Uint32Array(uniforms, 0, 1)[0] = floats;
    // With clipping off the shader never reads binding 4; grads stands in for it.
    rt.dispatch(
      program,
      [bind(params), bind(grads), bind(m), bind(v), normSquared ?? bind(grads)],
      new Uint8Array(uniforms),
      grid1d(rt, floats, WG),
      { shape: `${n}`, flops: 14 * floats, bytes: 28 * floats },
    );
  }
}
