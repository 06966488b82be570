// Token embedding on the GPU against the float64 reference: the gather, the CSR token index,
// and the atomic-free backward with repeated ids, accumulation and determinism.
import { describe, expect, it } from 'vitest';
import { buildTokenIndex, embeddingBackward, embeddingForward, EMBEDDING_PROGRAMS } from '../../src/kernels/embedding.ts';
import { expectAllClose } from '../helpers/allclose.ts';
import { testRuntime } from '../helpers/gpu.ts';
import { randn, rng } from '../helpers/random.ts';
import { embeddingBackwardRef, embeddingForwardRef } from '../reference/embedding.ts';

/** T ids below V where id `hot` takes about half the positions, so backward sums long groups. */
function skewedTokens(T: number, V: number, hot: number, seed: number): Uint32Array {
  const r = rng(seed);
  return Uint32Array.from({ length: T }, () => (r() < 0.5 ? hot : Math.floor(r() * V)));
}

describe('embedding', () => {
  it('compiles', async () => {
    const rt = await testRuntime();
    await rt.compileAll(EMBEDDING_PROGRAMS);
  });

  for (const [T, C, V] of [
    [1, 64, 7],
    [5, 37, 11],
    [130, 64, 50],
  ] as const) {
    it(`forward copies rows exactly (T = ${T}, C = ${C}, V = ${V})`, async () => {
      const rt = await testRuntime();
      const table = randn(V * C, T);
      const tokens = skewedTokens(T, V, 3, T + 1);
      tokens[0] = V - 1; // the last row, so an off-by-one row stride shows
      const out = rt.acquire(T * C * 4);
      embeddingForward(rt, { out, table: rt.upload(table), tokens: rt.upload(tokens), T, C });
      // A gather moves bits: exact.
      expectAllClose(await rt.readF32(out, 0, T * C), embeddingForwardRef(table, tokens, T, C), { atol: 0, rtol: 0 });
    });
  }

  it('forward turns an id outside the table into a NaN row rather than reading another row', async () => {
    const rt = await testRuntime();
    const [T, C, V] = [3, 37, 5];
    const table = randn(V * C, 1);
    const out = rt.acquire(T * C * 4);
    embeddingForward(rt, { out, table: rt.upload(table), tokens: rt.upload(Uint32Array.of(1, V, 2)), T, C });
    const got = await rt.readF32(out, 0, T * C);
    expect(got.slice(C, 2 * C).every(Number.isNaN)).toBe(true);
    expectAllClose(got.slice(2 * C), table.slice(2 * C, 3 * C), { atol: 0, rtol: 0 }, 'row after the bad id');
  });

  it('buildTokenIndex groups positions by id in CSR form, positions ascending', async () => {
    const rt = await testRuntime();
    const index = buildTokenIndex(rt, Int32Array.of(4, 1, 4, 0, 4, 1), 6);
    expect(index.uniqueCount).toBe(3);
    expect(index.tokenCount).toBe(6);
    const packed = await rt.readU32(index.buffer, 0, 3 + 4 + 6);
    expect([...packed]).toEqual([0, 1, 4, /* offsets */ 0, 1, 3, 6, /* positions */ 3, 1, 5, 0, 2, 4]);
    index.release(rt);
    expect(() => index.release(rt)).toThrow(/already released/);
  });

  it('buildTokenIndex rejects ids outside the vocabulary', async () => {
    const rt = await testRuntime();
    expect(() => buildTokenIndex(rt, Uint32Array.of(0, 9, 10), 10)).toThrow(/token 2 has id 10, outside the vocabulary \[0, 10\)/);
    expect(() => buildTokenIndex(rt, Int32Array.of(0, -1), 10)).toThrow(/token 1 has id -1/);
  });

  for (const [T, C, V] of [
    [1, 64, 7],
    [5, 37, 11],
    [130, 37, 23],
    [130, 64, 50],
  ] as const) {
    it(`backward accumulates repeated ids (T = ${T}, C = ${C}, V = ${V})`, async () => {
      const rt = await testRuntime();
      const tokens = skewedTokens(T, V, 2, T);
      const dOut = randn(T * C, T + 5);
      const dTableInitial = randn(V * C, T + 6);
      const dTable = rt.upload(dTableInitial);
      const index = buildTokenIndex(rt, tokens, V);
      embeddingBackward(rt, { dTable, dOut: rt.upload(dOut), index, C });
      index.release(rt);
      const expected = embeddingBackwardRef(dTableInitial, dOut, tokens, T, C);
      // The GPU adds a row's k occurrences in sequence, then the initial value: k + 1 f32 terms,
      // so |error| ≤ k·2^-24·Σ|terms| (the standard recursive-summation bound), per element.
      const absSums = embeddingBackwardRef(dTableInitial.map(Math.abs), dOut.map(Math.abs), tokens, T, C);
      const occurrences = new Uint32Array(V);
      for (const id of tokens) occurrences[id]!++;
      const got = await rt.readF32(dTable, 0, V * C);
      for (let i = 0; i < V * C; i++) {
        const bound = occurrences[Math.floor(i / C)]! * 2 ** -24 * absSums[i]!;
        if (Math.abs(got[i]! - expected[i]!) > bound) {
          expect.fail(`dTable[${i}]: got ${got[i]}, expected ${expected[i]} within ${bound}`);
        }
      }
      // Rows no token uses get k = 0: they must come back bit-identical.
      const used = new Set(tokens);
      for (let v = 0; v < V; v++) {
        if (used.has(v)) continue;
        expectAllClose(got.slice(v * C, (v + 1) * C), dTableInitial.slice(v * C, (v + 1) * C), { atol: 0, rtol: 0 }, `unused row ${v}`);
      }
      expect(used.size).toBeLessThan(V); // the check above ran on at least one row
    });
  }

  it('backward is deterministic: two runs give identical bits', async () => {
    const rt = await testRuntime();
    const [T, C, V] = [130, 37, 9];
    const tokens = skewedTokens(T, V, 4, 11);
    const dOut = rt.upload(randn(T * C, 12));
    const results: Float32Array[] = [];
    for (let run = 0; run < 2; run++) {
      const dTable = rt.upload(new Float32Array(V * C));
      const index = buildTokenIndex(rt, tokens, V);
      embeddingBackward(rt, { dTable, dOut, index, C });
      index.release(rt);
      results.push(await rt.readF32(dTable, 0, V * C));
    }
    expect(Buffer.from(results[0]!.buffer).equals(Buffer.from(results[1]!.buffer))).toBe(true);
  });

  it('rejects buffers too small for the shapes', async () => {
    const rt = await testRuntime();
    const [T, C, V] = [4, 8, 5];
    const index = buildTokenIndex(rt, Uint32Array.of(0, 1, 2, 3), V);
    expect(() => embeddingBackward(rt, { dTable: rt.acquire((V - 1) * C * 4), dOut: rt.acquire(T * C * 4), index, C })).toThrow(
      /dTable holds 128 bytes but \[V=5, C=8\] f32 needs 160/,
    );
    // The pool rounds sizes up to 16 bytes: 16 bytes hold 4 ids, not 8.
    expect(() =>
      embeddingForward(rt, { out: rt.acquire(8 * C * 4), table: rt.acquire(V * C * 4), tokens: rt.acquire(16), T: 8, C }),
    ).toThrow(/tokens holds 16 bytes but T=8 u32 ids needs 32/);
    index.release(rt);
  });
});
