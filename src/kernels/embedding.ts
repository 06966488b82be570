// Launchers for shaders/embedding.wgsl: the token embedding lookup and its deterministic,
// atomic-free backward, which scatters through a CSR index of positions grouped by token id.
import code from '../../shaders/embedding.wgsl?raw';
import { refBytes, type BufferRef, type GpuRuntime, type Program } from '../gpu/runtime.ts';
import { grid1d } from './grid.ts';
import { requireBytes, requireCount } from './checks.ts';

const WG = 256;

const EMBEDDING_FORWARD: Program = {
  name: 'embedding_forward',
  code,
  entryPoint: 'embedding_forward',
  bindings: ['read', 'read', 'write', 'uniform'],
  constants: { WG },
};

const EMBEDDING_BACKWARD: Program = {
  name: 'embedding_backward',
  code,
  entryPoint: 'embedding_backward',
  bindings: ['read', 'read', 'write', 'uniform'],
  constants: { WG },
};

export const EMBEDDING_PROGRAMS: readonly Program[] = [EMBEDDING_FORWARD, EMBEDDING_BACKWARD];

/**
 * The batch's tokens grouped by id (CSR), on the GPU. Built on the CPU each step, where the
 * tokens are known anyway, so the backward needs neither float atomics nor a GPU sort.
 */
export interface TokenIndex {
  /** Tokens in the batch (T). */
  readonly tokenCount: number;
  /** Distinct token ids in the batch. */
  readonly uniqueCount: number;
  readonly vocabSize: number;
  /** One u32 buffer: [uniqueIds | offsets (uniqueCount + 1) | positions (tokenCount)]. */
  readonly buffer: GPUBuffer;
  /** Returns the buffer to the runtime's pool; the index must not be used afterwards. */
  release(rt: GpuRuntime): void;
}

/** out[t, :] = table[tokens[t], :] for t < T; table is [V, C], tokens are u32 (an id ≥ V gives a NaN row). */
export function embeddingForward(
  rt: GpuRuntime,
  args: { out: BufferRef; table: BufferRef; tokens: BufferRef; T: number; C: number },
): void {
  const { out, table, tokens, T, C } = args;
  const op = 'embeddingForward';
  requireCount(op, 'T', T);
  requireCount(op, 'C', C);
  requireBytes(op, 'out', out, T * C * 4, `[T=${T}, C=${C}] f32`);
  requireBytes(op, 'tokens', tokens, T * 4, `T=${T} u32 ids`);
  const vocabSize = Math.floor(refBytes(table) / (C * 4));
  if (vocabSize < 1) throw new Error(`${op}: table holds ${refBytes(table)} bytes, less than one row of C=${C} floats`);
  rt.dispatch(EMBEDDING_FORWARD, [table, tokens, out], [T, C, vocabSize], grid1d(rt, T * C, WG), { bytes: 4 * (2 * T * C + T) });
}

/**
 * Groups positions by token id (counting sort, positions ascending within a group) and uploads
 * the CSR arrays for embeddingBackward. Throws if an id is not an integer in [0, vocabSize).
 */
export function buildTokenIndex(rt: GpuRuntime, tokens: Uint32Array | Int32Array, vocabSize: number): TokenIndex {
  requireCount('buildTokenIndex', 'vocabSize', vocabSize);
  const T = tokens.length;
  const counts = new Uint32Array(vocabSize);
  for (let t = 0; t < T; t++) {
    const id = tokens[t]!;
    if (id < 0 || id >= vocabSize) {
      throw new Error(
        `buildTokenIndex: token ${t} has id ${id}, outside the vocabulary [0, ${vocabSize}); ` +
          'the data was tokenized with a different tokenizer than the model preset expects.',
      );
    }
    counts[id]!++;
  }
  let uniqueCount = 0;
  for (let v = 0; v < vocabSize; v++) if (counts[v]! > 0) uniqueCount++;

  const offsetsStart = uniqueCount;
  const positionsStart = offsetsStart + uniqueCount + 1;
  const packed = new Uint32Array(positionsStart + T);
  // Exclusive prefix sum over the ids that occur; `cursor` then tracks where each id's next position goes.
  const cursor = new Uint32Array(vocabSize);
  let u = 0;
  let offset = 0;
  for (let v = 0; v < vocabSize; v++) {
    if (counts[v] === 0) continue;
    packed[u] = v;
    packed[offsetsStart + u] = offset;
    cursor[v] = offset;
    offset += counts[v]!;
    u++;
  }
  packed[offsetsStart + uniqueCount] = offset;
  for (let t = 0; t < T; t++) packed[positionsStart + cursor[tokens[t]!]!++] = t;

  const buffer = rt.upload(packed, 'token-index');
  let released = false;
  return {
    tokenCount: T,
    uniqueCount,
    vocabSize,
    buffer,
    release(runtime: GpuRuntime) {
      if (released) throw new Error('TokenIndex.release: this index was already released; build a new one each step.');
      released = true;
      runtime.release(buffer);
    },
  };
}

/** dTable[v, :] += Σ_{t: tokens[t] = v} dOut[t, :]; deterministic, summing each id's positions in order. */
export function embeddingBackward(rt: GpuRuntime, args: { dTable: BufferRef; dOut: BufferRef; index: TokenIndex; C: number }): void {
  const { dTable, dOut, index, C } = args;
  const op = 'embeddingBackward';
  requireCount(op, 'C', C);
  requireBytes(op, 'dTable', dTable, index.vocabSize * C * 4, `[V=${index.vocabSize}, C=${C}] f32`);
  requireBytes(op, 'dOut', dOut, index.tokenCount * C * 4, `[T=${index.tokenCount}, C=${C}] f32`);
  const offsetsStart = index.uniqueCount;
  const positionsStart = offsetsStart + index.uniqueCount + 1;
  rt.dispatch(
    EMBEDDING_BACKWARD,
    [dOut, index.buffer, dTable],
    [C, index.uniqueCount, offsetsStart, positionsStart],
    grid1d(rt, index.uniqueCount * C, WG),
    { bytes: 4 * (index.tokenCount * C + 2 * index.uniqueCount * C + index.tokenCount) },
  );
}
