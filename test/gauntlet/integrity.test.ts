// Integrity and the adversaries' payloads, on the CPU: each cheating behaviour produces the bytes
// it would send, and the integrity checks refuse the ones that must never be scored, with the
// reason that goes into the decision record; index overlap finds the copycat.
import { describe, expect, it } from 'vitest';
import {
  adversarialPayload,
  compressDense,
  gaussianSource,
  parseBehaviors,
  SCALED_FACTOR,
  type AdversaryContext,
} from '../../src/engine/adversary.ts';
import { checkIntegrity, indexOverlap, updateNorm, type IntegrityContext } from '../../src/gauntlet/integrity.ts';
import { preset } from '../../src/model/config.ts';
import { parameterLayout } from '../../src/model/layout.ts';
import { decodeUpdate, encodeUpdate, maxPayloadBytes, wireLayoutOf } from '../../src/sparseloco/codec.ts';

const layout = parameterLayout(preset('tiny'));
const wire = wireLayoutOf(layout.tensors);
const runId = 'integrity';
const round = 3;
const baseModelHash = new Uint8Array(32).fill(7);
const olderModelHash = new Uint8Array(32).fill(6);

/** A pseudo-gradient-like update: dense Gaussian values, compressed as the compressor would. */
function update(seed: number, std = 1e-3) {
  const gaussian = gaussianSource(seed);
  return compressDense(
    layout.tensors.map((t) => Float32Array.from({ length: t.shape.reduce((a, b) => a * b, 1) }, () => std * gaussian())),
    layout.tensors,
  );
}

const honestUpdate = update(1);
const honestPayload = encodeUpdate({ runId, round, baseModelHash }, honestUpdate, wire);
const context: IntegrityContext = {
  wire,
  runId,
  round,
  baseModelHash,
  recentModels: new Map([[Buffer.from(olderModelHash).toString('hex'), round - 2]]),
};

function adversary(behavior: Parameters<typeof adversarialPayload>[0], extra: Partial<AdversaryContext> = {}): Uint8Array | null {
  return adversarialPayload(behavior, {
    origin: { runId, round, baseModelHash },
    wire,
    layout: layout.tensors,
    honest: { payload: honestPayload, update: honestUpdate },
    previous: null,
    earlier: [],
    seed: 42,
    ...extra,
  });
}

describe('integrity', () => {
  it('accepts an honest payload and returns its update', () => {
    const result = checkIntegrity(honestPayload, context);
    expect(result.ok).toBe(true);
    if (result.ok) expect(updateNorm(result.update)).toBeCloseTo(updateNorm(honestUpdate), 6);
  });

  it('refuses each bad payload with its reason, before any scoring', () => {
    const reasonOf = (payload: Uint8Array, ctx: Partial<IntegrityContext> = {}) => {
      const r = checkIntegrity(payload, { ...context, ...ctx });
      return r.ok ? 'ok' : r.reason;
    };
    // nan: the encoder refuses NaN, so the adversary writes the bits; the decoder refuses them.
    const nan = adversary('nan')!;
    expect(reasonOf(nan)).toBe('malformed');
    const nanResult = checkIntegrity(nan, context);
    expect(!nanResult.ok && nanResult.detail).toMatch(/bad-quantization/);
    // oversized: refused on its length, before a byte is parsed.
    const oversized = adversary('oversized')!;
    expect(oversized.length).toBe(maxPayloadBytes(wire) + 1);
    expect(reasonOf(oversized)).toBe('oversized');
    // forged: whatever the bytes, a verifier that refuses the announcement decides.
    expect(reasonOf(honestPayload, { verify: () => 'the announcement is not signed by the session key of binding 0x…' })).toBe('forged');
    // stale: last round's payload, and how far behind it is.
    const stale = encodeUpdate({ runId, round: round - 1, baseModelHash: olderModelHash }, honestUpdate, wire);
    expect(adversary('stale', { previous: stale })).toBe(stale);
    const staleResult = checkIntegrity(stale, context);
    expect(staleResult).toMatchObject({ ok: false, reason: 'stale', roundsBehind: 1 });
    // wrong model: this round, but computed on θ of two rounds ago; or on a θ nobody knows.
    expect(checkIntegrity(encodeUpdate({ runId, round, baseModelHash: olderModelHash }, honestUpdate, wire), context)).toMatchObject({
      ok: false,
      reason: 'wrong-model',
      roundsBehind: 2,
    });
    const unknownModel = checkIntegrity(
      encodeUpdate({ runId, round, baseModelHash: new Uint8Array(32).fill(9) }, honestUpdate, wire),
      context,
    );
    expect(unknownModel).toMatchObject({ ok: false, reason: 'wrong-model' });
    expect(unknownModel.ok || unknownModel.roundsBehind).toBeUndefined();
    expect(reasonOf(encodeUpdate({ runId: 'other-run', round, baseModelHash }, honestUpdate, wire))).toBe('wrong-run');
    expect(reasonOf(encodeUpdate({ runId, round: round + 1, baseModelHash }, honestUpdate, wire))).toBe('wrong-round');
    // malformed: truncated, trailing bytes, not a payload at all.
    expect(reasonOf(honestPayload.subarray(0, honestPayload.length - 1))).toBe('malformed');
    const trailing = new Uint8Array(honestPayload.length + 3);
    trailing.set(honestPayload);
    expect(reasonOf(trailing)).toBe('malformed');
    expect(reasonOf(new TextEncoder().encode('hello'))).toBe('malformed');
  });

  it('the other behaviours are valid payloads that only scoring can judge', () => {
    for (const behavior of ['honest', 'forged', 'scaled', 'signflip', 'noise', 'lazy'] as const) {
      const payload = adversary(behavior)!;
      expect(checkIntegrity(payload, context).ok, behavior).toBe(true);
    }
    const decoded = (p: Uint8Array) => decodeUpdate(p, wire).update;
    expect(updateNorm(decoded(adversary('scaled')!)) / updateNorm(honestUpdate)).toBeCloseTo(SCALED_FACTOR, 1);
    // signflip: the same selection, every value negated.
    const flipped = decoded(adversary('signflip')!);
    expect(Array.from(flipped.tensors[0]!.indices)).toEqual(Array.from(honestUpdate.tensors[0]!.indices));
    expect(flipped.tensors[0]!.shift).toBeCloseTo(-honestUpdate.tensors[0]!.shift, 9);
    // lazy: zeros in even rounds (the encoder takes them: scale 0, every code 2), a tiny update in odd ones.
    const lazyEven = adversarialPayload('lazy', {
      origin: { runId, round: 2, baseModelHash },
      wire,
      layout: layout.tensors,
      honest: null,
      previous: null,
      earlier: [],
      seed: 1,
    })!;
    expect(updateNorm(decoded(lazyEven))).toBe(0);
    const lazyOdd = decoded(adversary('lazy')!);
    expect(updateNorm(lazyOdd)).toBeGreaterThan(0);
    expect(updateNorm(lazyOdd)).toBeLessThan(updateNorm(honestUpdate) * 1e-2);
    // Peers that do not train send nothing of their own when there is nothing to transform.
    expect(adversary('nan', { honest: null })).toBeNull();
    expect(adversary('copycat')).toBeNull();
    expect(adversary('stale')).toBeNull();
  });

  it('a copycat shares most of its victim index set, honest peers little of each other', () => {
    const copy = adversary('copycat', { earlier: [honestPayload] })!;
    expect(copy).not.toEqual(honestPayload);
    expect(checkIntegrity(copy, context).ok).toBe(true);
    const copied = decodeUpdate(copy, wire).update;
    const overlap = indexOverlap(copied, honestUpdate);
    expect(overlap).toBeGreaterThanOrEqual(0.5);
    expect(overlap).toBeLessThan(1);
    expect(indexOverlap(honestUpdate, honestUpdate)).toBe(1);
    expect(indexOverlap(update(2), honestUpdate)).toBeLessThan(0.1);
  });

  it('parses behaviour lists', () => {
    expect(parseBehaviors('nan, scaled,copycat,lazy')).toEqual(['nan', 'scaled', 'copycat', 'lazy']);
    expect(parseBehaviors('')).toEqual([]);
    expect(() => parseBehaviors('nan,evil')).toThrow(/unknown behaviour 'evil'/);
  });
});
