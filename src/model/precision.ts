// The f16 path of the model (GpuRuntime.f16): every matmul reads its operands as f16 (packed in
// pairs, src/kernels/cast.ts) and sums in f32 into f32 outputs; parameters, gradients, AdamW's
// moments and every other activation stay f32. HalfTensors holds the half copies: the weights the
// matmuls read (cast from the f32 masters at each forward), the activations the backward's
// weight gradients read again (saved per layer), and scratch for the gradients the backward's
// matmuls read. On the f32 path none of this exists and the passes bind the f32 tensors.
import type { BufferSlice, GpuRuntime } from '../gpu/runtime.ts';
import { STORAGE_USAGE } from '../gpu/runtime.ts';
import { castToHalf } from '../kernels/cast.ts';
import { matmul, type MatmulArgs } from '../kernels/matmul.ts';
import { planArenas } from './arena.ts';
import type { Activations } from './activations.ts';
import { headDim, type LlamaConfig } from './config.ts';
import type { ModelWeights } from './parameters.ts';

/** A matmul operand: the f32 tensor and, on the f16 path, the half copy the matmul reads instead. */
export interface Operand {
  f32: BufferSlice;
  half?: BufferSlice;
}

export interface HalfLayerWeights {
  q: BufferSlice;
  k: BufferSlice;
  v: BufferSlice;
  o: BufferSlice;
  gate: BufferSlice;
  up: BufferSlice;
  down: BufferSlice;
}

/** Activations of one layer that both a forward matmul and a backward weight gradient read. */
export interface HalfLayerActivations {
  ln1: BufferSlice;
  attn: BufferSlice;
  ln2: BufferSlice;
  act: BufferSlice;
}

export interface HalfTensors {
  layers: HalfLayerWeights[];
  head: BufferSlice;
  /** Every half weight with its f32 master, cast at each forward. */
  weightCasts: { src: BufferSlice; dst: BufferSlice; n: number }[];
  acts: HalfLayerActivations[];
  lnf: BufferSlice;
  /** Scratch: the backward's gradients as the matmuls read them, and one block of dlogits. */
  dResidual: BufferSlice;
  dGate: BufferSlice;
  dUp: BufferSlice;
  dq: BufferSlice;
  dk: BufferSlice;
  dv: BufferSlice;
  dLogits: BufferSlice;
  arenas: GPUBuffer[];
}

/** Half copies for a model's weights and activations (u32 words of two halves each). */
export function allocateHalfTensors(rt: GpuRuntime, config: LlamaConfig, weights: ModelWeights, acts: Activations): HalfTensors {
  const { T } = acts;
  const C = config.hidden_size;
  const I = config.intermediate_size;
  const V = config.vocab_size;
  const kv = config.num_key_value_heads * headDim(config);
  const entries: { name: string; size: number; n: number }[] = [];
  const add = (name: string, n: number) => entries.push({ name, size: Math.ceil(n / 2), n });
  const weightShapes = { q: C * C, k: kv * C, v: kv * C, o: C * C, gate: I * C, up: I * C, down: C * I };
  for (let l = 0; l < config.num_hidden_layers; l++) {
    for (const [name, n] of Object.entries(weightShapes)) add(`layers.${l}.${name}`, n);
    for (const [name, n] of Object.entries({ ln1: T * C, attn: T * C, ln2: T * C, act: T * I })) add(`acts.${l}.${name}`, n);
  }
  add('head', V * C);
  add('lnf', T * C);
  for (const [name, n] of Object.entries({
    dResidual: T * C,
    dGate: T * I,
    dUp: T * I,
    dq: T * C,
    dk: T * kv,
    dv: T * kv,
    dLogits: acts.logitsBlockTokens * V,
  }))
    add(name, n);

  const plan = planArenas(entries, rt.limits);
  const arenas = plan.arenaFloats.map((words, i) =>
    rt.device.createBuffer({ label: `half-${i}`, size: Math.max(words, 4) * 4, usage: STORAGE_USAGE }),
  );
  const views = new Map(plan.tensors.map((t) => [t.name, { buffer: arenas[t.arena]!, offset: t.arenaOffset * 4, size: t.size * 4 }]));
  const view = (name: string) => views.get(name)!;
  const weightCasts: HalfTensors['weightCasts'] = [];
  const layers = weights.layers.map((w, l) => {
    const half = {} as HalfLayerWeights;
    for (const [name, n] of Object.entries(weightShapes) as [keyof HalfLayerWeights, number][]) {
      half[name] = view(`layers.${l}.${name}`);
      weightCasts.push({ src: w[name], dst: half[name], n });
    }
    return half;
  });
  const head = view('head');
  weightCasts.push({ src: weights.head, dst: head, n: V * C });
  return {
    layers,
    head,
    weightCasts,
    acts: weights.layers.map((_, l) => ({
      ln1: view(`acts.${l}.ln1`),
      attn: view(`acts.${l}.attn`),
      ln2: view(`acts.${l}.ln2`),
      act: view(`acts.${l}.act`),
    })),
    lnf: view('lnf'),
    dResidual: view('dResidual'),
    dGate: view('dGate'),
    dUp: view('dUp'),
    dq: view('dq'),
    dk: view('dk'),
    dv: view('dv'),
    dLogits: view('dLogits'),
    arenas,
  };
}

export function destroyHalfTensors(half: HalfTensors): void {
  for (const arena of half.arenas) arena.destroy();
}

/** The half weights from the f32 masters (the start of every forward on the f16 path). */
export function castWeights(rt: GpuRuntime, half: HalfTensors): void {
  for (const { src, dst, n } of half.weightCasts) castToHalf(rt, { dst, src, n });
}

/** On the f16 path, writes x's half copy from its f32 tensor (n values); either way returns x. */
export function toHalf(rt: GpuRuntime, x: Operand, n: number): Operand {
  if (x.half) castToHalf(rt, { dst: x.half, src: x.f32, n });
  return x;
}

/** A window of `n` values starting at value `start` of a half tensor (start a multiple of 128: 256-byte aligned). */
export function halfSlice(ref: BufferSlice, start: number, n: number): BufferSlice {
  if (start % 128 !== 0) throw new Error(`halfSlice: start ${start} is not a multiple of 128 halves (256 bytes)`);
  return { buffer: ref.buffer, offset: ref.offset + start * 2, size: Math.ceil(n / 2) * 4 };
}

/** out (+)= op(a)·op(b) over the operands' half copies when both have one, else over the f32 tensors. */
export function linear(rt: GpuRuntime, args: Omit<MatmulArgs, 'a' | 'b' | 'half'> & { a: Operand; b: Operand }): void {
  const { a, b, ...rest } = args;
  if (Boolean(a.half) !== Boolean(b.half))
    throw new Error('linear: one operand has a half copy and the other not; the f16 path casts both');
  if (a.half && b.half) matmul(rt, { ...rest, a: a.half, b: b.half, half: true });
  else matmul(rt, { ...rest, a: a.f32, b: b.f32 });
}
