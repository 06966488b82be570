// allClose: |actual - expected| <= atol + rtol * |expected| element-wise, reporting the worst
// element when it fails. Tolerances are stated at each call site, next to why they hold.
import { expect } from 'vitest';

export interface Tolerance {
  atol: number;
  rtol: number;
}

export function compareClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance) {
  if (actual.length !== expected.length) return { ok: false, message: `length ${actual.length} != ${expected.length}` };
  let worst = -1;
  let worstExcess = 0;
  let maxAbs = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const err = Math.abs(a - e);
    maxAbs = Math.max(maxAbs, err);
    const excess = Number.isNaN(a) !== Number.isNaN(e) || !Number.isFinite(err) ? Infinity : err - (tol.atol + tol.rtol * Math.abs(e));
    if (excess > worstExcess || (worst < 0 && excess > 0)) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst < 0) return { ok: true, message: `max abs error ${maxAbs.toExponential(3)}` };
  return {
    ok: false,
    message: `element ${worst}: got ${actual[worst]}, expected ${expected[worst]} (atol ${tol.atol}, rtol ${tol.rtol}; max abs error ${maxAbs.toExponential(3)})`,
  };
}

export function expectAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, what = 'tensor'): void {
  const { ok, message } = compareClose(actual, expected, tol);
  expect(ok, `${what}: ${message}`).toBe(true);
}
