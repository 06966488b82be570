// Activation memory for one (config, batch, sequence length): every tensor the forward saves for
// the backward, the shared gradient scratch and one block of logits, planned by name up front and
// carved from a few allocations (llm.c's ActivationTensors). WebGPU validates a dispatch's
// read/write usage per buffer, not per range, so one kind of tensor (q, ln1, ...) gets one
// allocation holding all layers: every kernel then reads and writes different buffers. The
// logits of a GPT-2 vocabulary are huge ([T, 50257]), so the head and the loss run over blocks
// of tokens that reuse one buffer.
import { STORAGE_USAGE, type BufferSlice, type GpuRuntime } from '../gpu/runtime.ts';
import { ALIGN_FLOATS, planArenas, type ArenaLimits } from './arena.ts';
import { headDim, type LlamaConfig } from './config.ts';

/** Default budget for the logits block: big enough to keep the GPU busy, small enough for any binding limit. */
const LOGITS_BLOCK_BYTES = 64 * 1024 * 1024;

export interface LayerActivations {
  /** Residual stream entering the layer [T, C] (the previous layer's output). */
  input: BufferSlice;
  ln1: BufferSlice;
  ln1Rstd: BufferSlice;
  /** Queries and keys after RoPE, values [T, heads·headDim]. */
  q: BufferSlice;
  k: BufferSlice;
  v: BufferSlice;
  /** Attention output before o_proj [T, C], and its log-sum-exp [B·nHeads·S]. */
  attn: BufferSlice;
  lse: BufferSlice;
  /** Residual stream after attention [T, C]. */
  mid: BufferSlice;
  ln2: BufferSlice;
  ln2Rstd: BufferSlice;
  gate: BufferSlice;
  up: BufferSlice;
  /** silu(gate)·up [T, I]. */
  act: BufferSlice;
}

export interface Activations {
  B: number;
  S: number;
  T: number;
  /** Tokens per block of the head + loss (a multiple of 64 unless it is all of T). */
  logitsBlockTokens: number;
  /** u32 [T] inputs and targets. */
  tokens: BufferSlice;
  targets: BufferSlice;
  layers: LayerActivations[];
  /** Residual stream leaving the last layer [T, C]. */
  output: BufferSlice;
  lnf: BufferSlice;
  lnfRstd: BufferSlice;
  /** [logitsBlockTokens, V]: logits, then overwritten in place by their gradient. */
  logits: BufferSlice;
  losses: BufferSlice;
  meanLoss: BufferSlice;
  // Gradient scratch shared by all layers.
  /** ∂L/∂(residual stream) [T, C], accumulated through the layers. */
  dResidual: BufferSlice;
  /** ∂L/∂(a norm's output) [T, C]: of the final norm (written by the fused head), then ln2, ln1. */
  dNorm: BufferSlice;
  dAttn: BufferSlice;
  dq: BufferSlice;
  dk: BufferSlice;
  dv: BufferSlice;
  dAct: BufferSlice;
  dGate: BufferSlice;
  dUp: BufferSlice;
  arenas: GPUBuffer[];
}

export interface ActivationShape {
  batch: number;
  seqLen: number;
  /** Override the head's token block (tests use it to exercise several blocks). */
  logitsBlockTokens?: number;
}

export interface ActivationPlanEntry {
  name: string;
  size: number;
}

/** Tokens per head block: all of T if the logits fit the budget, else a multiple of 64 so block offsets stay 256-byte aligned. */
function chooseLogitsBlock(config: LlamaConfig, T: number, limits: ArenaLimits, requested?: number): number {
  const budget = Math.min(LOGITS_BLOCK_BYTES, limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  const rowBytes = config.vocab_size * 4;
  if (requested !== undefined) {
    if (!Number.isSafeInteger(requested) || requested < 1 || (requested < T && requested % ALIGN_FLOATS !== 0)) {
      throw new Error(`logitsBlockTokens must be a positive multiple of ${ALIGN_FLOATS} (or ≥ T = ${T}), got ${requested}`);
    }
    return Math.min(requested, T);
  }
  if (T * rowBytes <= budget) return T;
  const block = Math.floor(budget / rowBytes / ALIGN_FLOATS) * ALIGN_FLOATS;
  if (block < ALIGN_FLOATS)
    throw new Error(`one block of ${ALIGN_FLOATS} tokens of logits (${ALIGN_FLOATS * rowBytes} bytes) exceeds this GPU's binding limit`);
  return Math.min(block, T);
}

function checkShape(config: LlamaConfig, shape: ActivationShape): void {
  const { batch, seqLen } = shape;
  if (!Number.isSafeInteger(batch) || batch < 1) throw new Error(`batch must be a positive integer, got ${batch}`);
  if (!Number.isSafeInteger(seqLen) || seqLen < 1) throw new Error(`seqLen must be a positive integer, got ${seqLen}`);
  if (seqLen > config.max_position_embeddings) {
    throw new Error(
      `seqLen ${seqLen} exceeds the model's max_position_embeddings ${config.max_position_embeddings}; use shorter sequences`,
    );
  }
}

/** Every activation buffer by name with its size in floats, in allocation order. */
export function planActivations(
  config: LlamaConfig,
  shape: ActivationShape,
  limits: ArenaLimits,
): { entries: ActivationPlanEntry[]; logitsBlockTokens: number } {
  checkShape(config, shape);
  const B = shape.batch;
  const S = shape.seqLen;
  const T = B * S;
  const C = config.hidden_size;
  const I = config.intermediate_size;
  const kvDim = config.num_key_value_heads * headDim(config);
  const logitsBlockTokens = chooseLogitsBlock(config, T, limits, shape.logitsBlockTokens);
  const entries: ActivationPlanEntry[] = [
    { name: 'tokens', size: T },
    { name: 'targets', size: T },
  ];
  for (let l = 0; l < config.num_hidden_layers; l++) {
    const p = `layers.${l}`;
    entries.push(
      { name: `${p}.input`, size: T * C },
      { name: `${p}.ln1`, size: T * C },
      { name: `${p}.ln1Rstd`, size: T },
      { name: `${p}.q`, size: T * C },
      { name: `${p}.k`, size: T * kvDim },
      { name: `${p}.v`, size: T * kvDim },
      { name: `${p}.attn`, size: T * C },
      { name: `${p}.lse`, size: B * config.num_attention_heads * S },
      { name: `${p}.mid`, size: T * C },
      { name: `${p}.ln2`, size: T * C },
      { name: `${p}.ln2Rstd`, size: T },
      { name: `${p}.gate`, size: T * I },
      { name: `${p}.up`, size: T * I },
      { name: `${p}.act`, size: T * I },
    );
  }
  entries.push(
    { name: 'output', size: T * C },
    { name: 'lnf', size: T * C },
    { name: 'lnfRstd', size: T },
    { name: 'logits', size: logitsBlockTokens * config.vocab_size },
    { name: 'losses', size: T },
    { name: 'meanLoss', size: 1 },
    { name: 'dResidual', size: T * C },
    { name: 'dNorm', size: T * C },
    { name: 'dAttn', size: T * C },
    { name: 'dq', size: T * C },
    { name: 'dk', size: T * kvDim },
    { name: 'dv', size: T * kvDim },
    { name: 'dAct', size: T * I },
    { name: 'dGate', size: T * I },
    { name: 'dUp', size: T * I },
  );
  return { entries, logitsBlockTokens };
}

/** 'layers.3.q' → 'q': the allocation a tensor belongs to. */
function kindOf(name: string): string {
  return name.replace(/^layers\.\d+\./, '');
}

/** One arena plan per kind of tensor, kinds in order of first appearance. */
function planByKind(entries: readonly ActivationPlanEntry[], limits: ArenaLimits) {
  const kinds = new Map<string, ActivationPlanEntry[]>();
  for (const e of entries) {
    const kind = kindOf(e.name);
    let list = kinds.get(kind);
    if (!list) kinds.set(kind, (list = []));
    list.push(e);
  }
  return [...kinds.values()].map((list) => planArenas(list, limits));
}

export interface ActivationReport {
  batch: number;
  seqLen: number;
  logitsBlockTokens: number;
  /** Bytes saved per layer for the backward, the final norm + head block + losses, and the gradient scratch. */
  perLayerBytes: number;
  headBytes: number;
  scratchBytes: number;
  totalBytes: number;
  arenas: number;
}

/** What `allocateActivations` would allocate, without a GPU. */
export function activationReport(config: LlamaConfig, shape: ActivationShape, limits: ArenaLimits): ActivationReport {
  const { entries, logitsBlockTokens } = planActivations(config, shape, limits);
  const plans = planByKind(entries, limits);
  const bytesOf = (match: (name: string) => boolean) => entries.filter((e) => match(e.name)).reduce((n, e) => n + e.size * 4, 0);
  return {
    batch: shape.batch,
    seqLen: shape.seqLen,
    logitsBlockTokens,
    perLayerBytes: bytesOf((n) => n.startsWith('layers.0.')),
    headBytes: bytesOf((n) => ['output', 'lnf', 'lnfRstd', 'logits', 'losses', 'meanLoss', 'tokens', 'targets'].includes(n)),
    scratchBytes: bytesOf((n) => n.startsWith('d')),
    totalBytes: plans.reduce((n, p) => n + p.arenaFloats.reduce((m, f) => m + f * 4, 0), 0),
    arenas: plans.reduce((n, p) => n + p.arenaFloats.length, 0),
  };
}

export function allocateActivations(rt: GpuRuntime, config: LlamaConfig, shape: ActivationShape): Activations {
  const limits = rt.limits;
  const { entries, logitsBlockTokens } = planActivations(config, shape, limits);
  const arenas: GPUBuffer[] = [];
  const views = new Map<string, BufferSlice>();
  for (const plan of planByKind(entries, limits)) {
    const buffers = plan.arenaFloats.map((floats, i) =>
      rt.device.createBuffer({ label: `activations-${kindOf(plan.tensors[0]!.name)}-${i}`, size: floats * 4, usage: STORAGE_USAGE }),
    );
    arenas.push(...buffers);
    for (const t of plan.tensors) views.set(t.name, { buffer: buffers[t.arena]!, offset: t.arenaOffset * 4, size: t.size * 4 });
  }
  const view = (name: string): BufferSlice => {
    const v = views.get(name);
    if (!v) throw new Error(`activation plan has no buffer '${name}'`);
    return v;
  };
  const layers: LayerActivations[] = [];
  for (let l = 0; l < config.num_hidden_layers; l++) {
    const p = `layers.${l}`;
    layers.push({
      input: view(`${p}.input`),
      ln1: view(`${p}.ln1`),
      ln1Rstd: view(`${p}.ln1Rstd`),
      q: view(`${p}.q`),
      k: view(`${p}.k`),
      v: view(`${p}.v`),
      attn: view(`${p}.attn`),
      lse: view(`${p}.lse`),
      mid: view(`${p}.mid`),
      ln2: view(`${p}.ln2`),
      ln2Rstd: view(`${p}.ln2Rstd`),
      gate: view(`${p}.gate`),
      up: view(`${p}.up`),
      act: view(`${p}.act`),
    });
  }
  return {
    B: shape.batch,
    S: shape.seqLen,
    T: shape.batch * shape.seqLen,
    logitsBlockTokens,
    tokens: view('tokens'),
    targets: view('targets'),
    layers,
    output: view('output'),
    lnf: view('lnf'),
    lnfRstd: view('lnfRstd'),
    logits: view('logits'),
    losses: view('losses'),
    meanLoss: view('meanLoss'),
    dResidual: view('dResidual'),
    dNorm: view('dNorm'),
    dAttn: view('dAttn'),
    dq: view('dq'),
    dk: view('dk'),
    dv: view('dv'),
    dAct: view('dAct'),
    dGate: view('dGate'),
    dUp: view('dUp'),
    arenas,
  };
}

export function destroyActivations(acts: Activations): void {
  for (const arena of acts.arenas) arena.destroy();
}

/** A window of `floats` floats starting `floatOffset` floats into `ref` (offset must stay 256-byte aligned). */
export function sliceOf(ref: BufferSlice, floatOffset: number, floats: number): BufferSlice {
  if (floatOffset % ALIGN_FLOATS !== 0)
    throw new Error(`sliceOf: offset ${floatOffset} floats is not a multiple of ${ALIGN_FLOATS} (256 bytes)`);
  if ((floatOffset + floats) * 4 > ref.size)
    throw new Error(`sliceOf: [${floatOffset}, ${floatOffset + floats}) floats exceeds a view of ${ref.size / 4}`);
  return { buffer: ref.buffer, offset: ref.offset + floatOffset * 4, size: floats * 4 };
}
