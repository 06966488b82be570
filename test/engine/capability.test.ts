// The capability check: presets that do not fit an adapter's limits are refused with the reason,
// the rest get an expected rate from the measured matmul rate, and the check runs on Dawn.
import { describe, expect, it } from 'vitest';
import { checkCapability, presetFit } from '../../src/engine/capability.ts';
import { testRuntime } from '../helpers/gpu.ts';

const limits = (bindingMiB: number) =>
  ({ maxStorageBufferBindingSize: bindingMiB * 2 ** 20, maxBufferSize: bindingMiB * 2 ** 20 }) as GPUSupportedLimits;

describe('capability check', () => {
  it("refuses a preset whose tensors exceed the adapter's storage binding, saying why", () => {
    const base = presetFit('base', limits(64), 1000);
    expect(base.fits).toBe(false);
    expect(base.reason).toMatch(/binding|exceeds|larger/i);
    expect(presetFit('tiny', limits(64), 1000).fits).toBe(true);
    expect(presetFit('base', limits(1024), 1000).fits).toBe(true);
  });

  it('expects fewer tokens/s from larger presets at the same GPU rate, and in proportion to it', () => {
    const at = (gflops: number) =>
      (['tiny', 'small', 'base'] as const).map((p) => presetFit(p, limits(1024), gflops).expectedTokensPerSecond);
    const [tiny, small, base] = at(1000);
    expect(tiny).toBeGreaterThan(small!);
    expect(small).toBeGreaterThan(base!);
    expect(at(2000)[2]! / base!).toBeCloseTo(2, 10);
  });

  it("measures this adapter's matmul rate and recommends a preset that fits", async () => {
    const rt = await testRuntime();
    const c = await checkCapability(rt);
    expect(c.matmulGflops).toBeGreaterThan(0);
    expect(c.presets.map((p) => p.preset)).toEqual(['tiny', 'small', 'base']);
    expect(c.recommended).not.toBeNull();
    expect(c.presets.find((p) => p.preset === c.recommended)!.fits).toBe(true);
  }, 120_000);
});
