// castToHalf (shaders/cast.wgsl) and the matmul's f16 operands: f32 → f16 packed in pairs, and a
// product of such operands against the float64 product of the very halves the GPU stored.
import { describe, expect, it } from 'vitest';
import { castToHalf, halfBytes } from '../../src/kernels/cast.ts';
import { matmul } from '../../src/kernels/matmul.ts';
import { testRuntime } from '../helpers/gpu.ts';
import { randn } from '../helpers/random.ts';
import { halfUlp, unpackHalves } from '../reference/half.ts';
import { matmulReference } from '../reference/matmul.ts';

describe('castToHalf', () => {
  it('rounds each value to one of its two neighbouring halves, clamps to ±65504, pads an odd count', async () => {
    const rt = await testRuntime();
    const values = Float32Array.from([...randn(997, 7, 3), 1e-6, -3e-8, 70000, -1e9, 65504, 0.1, 1 / 3, -2.5]);
    const n = values.length;
    expect(n % 2).toBe(1);
    const src = rt.upload(values);
    const dst = rt.acquire(halfBytes(n) + 4);
    rt.write(dst, new Uint32Array(halfBytes(n) / 4 + 1).fill(0xdeadbeef));
    castToHalf(rt, { dst, src, n });
    const words = await rt.readU32(dst, 0, halfBytes(n) / 4 + 1);
    const halves = unpackHalves(words, n);
    for (let i = 0; i < n; i++) {
      const x = Math.max(-65504, Math.min(65504, values[i]!));
      // WGSL lets the conversion round either way between the two nearest halves: within one ulp.
      expect(Math.abs(halves[i]! - x), `value ${i}: ${values[i]} → ${halves[i]}`).toBeLessThanOrEqual(halfUlp(x));
    }
    expect(words[(n - 1) >> 1]! >>> 16, 'the pad half of the last word').toBe(0);
    expect(words[halfBytes(n) / 4], 'the word after the last pair is untouched').toBe(0xdeadbeef);
  });
});

describe('matmul with f16 operands', () => {
  it('equals the f32-accumulated product of the halves it was given, every layout, odd and round shapes', async () => {
    const rt = await testRuntime();
    const cases = [
      { M: 65, N: 33, K: 70, transB: true, accumulate: true }, // forward, ragged
      { M: 64, N: 64, K: 64 }, // input gradient, round (the fast path)
      { M: 33, N: 64, K: 203, transA: true, accumulate: true }, // weight gradient
    ];
    let seed = 900;
    for (const c of cases) {
      const a = randn(c.M * c.K, (seed += 3));
      const b = randn(c.K * c.N, seed + 1);
      const previous = randn(c.M * c.N, seed + 2);
      const ha = rt.acquire(halfBytes(a.length));
      const hb = rt.acquire(halfBytes(b.length));
      castToHalf(rt, { dst: ha, src: rt.upload(a), n: a.length });
      castToHalf(rt, { dst: hb, src: rt.upload(b), n: b.length });
      const out = rt.upload(previous);
      matmul(rt, { out, a: ha, b: hb, ...c, half: true });
      const got = await rt.readF32(out, 0, c.M * c.N);
      const aHalf = unpackHalves(await rt.readU32(ha, 0, halfBytes(a.length) / 4), a.length);
      const bHalf = unpackHalves(await rt.readU32(hb, 0, halfBytes(b.length) / 4), b.length);
      const expected = matmulReference({ a: aHalf, b: bHalf, ...c, accumulateInto: c.accumulate ? previous : undefined });
      // Halves are exact in f32 and so are their products (22 significant bits): what remains is
      // f32 summation, within γ_{K+1}·Σ|terms| in any order (as for the f32 path).
      const gamma = ((c.K + 1) * 2 ** -24) / (1 - (c.K + 1) * 2 ** -24);
      for (let i = 0; i < got.length; i++) {
        const bound = gamma * expected.magnitude[i]!;
        if (!(Math.abs(got[i]! - expected.out[i]!) <= bound))
          expect.fail(`${JSON.stringify(c)} element ${i}: ${got[i]} vs ${expected.out[i]} (bound ${bound})`);
      }
    }
  });

  it('checks operand sizes in halves and refuses an f32 plan for f16 operands', async () => {
    const rt = await testRuntime();
    const out = rt.acquire(16 * 4);
    // 4×4 halves need 32 bytes: 16 bytes are too few; 32 are enough.
    expect(() => matmul(rt, { out, a: rt.acquire(16), b: rt.acquire(32), M: 4, N: 4, K: 4, half: true })).toThrow(
      /a is \[4,4\], 16 f16 values packed in pairs \(32 bytes\)/,
    );
    expect(() => matmul(rt, { out, a: rt.acquire(32), b: rt.acquire(32), M: 4, N: 4, K: 4, half: true })).not.toThrow();
  });
});
