// The peer's side of a round around compression: the outer step (against a float64 reference,
// and bit-identical across two separate Node processes, as every peer must be), and the
// error-feedback state with its null rounds.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { randn } from '../helpers/random.ts';
import { applyDecision, replayTheta, type DecisionReplay } from './apply-decision.child.ts';
import { CodecError, encodeUpdate, wireLayoutOf } from '../../src/sparseloco/codec.ts';
import { decompressTensor } from '../../src/sparseloco/compress.ts';
import { ErrorFeedback, packedSlots } from '../../src/sparseloco/error-feedback.ts';
import { modelHash } from '../../src/model/hash.ts';
import { decisionLr, outerStep } from '../../src/sparseloco/outer.ts';
import type { CompressedUpdate, TensorSpecs } from '../../src/sparseloco/types.ts';
import { preset } from '../../src/model/config.ts';
import { parameterLayout } from '../../src/model/layout.ts';

const LAYOUT: TensorSpecs = [
  { name: 'tiles', shape: [128, 64] },
  { name: 'odd', shape: [100, 48] },
  { name: 'rows', shape: [70] },
];

describe('outerStep', () => {
  it('computes θ − lr·aggregate in f32 within two f32 roundings of the float64 result', () => {
    const theta = [randn(999, 1, 0.02), randn(13, 2)];
    const aggregate = [randn(999, 3, 0.01), randn(13, 4, 5)];
    const before = theta.map((t) => Float64Array.from(t));
    const lr = 0.7;
    outerStep(theta, aggregate, lr);
    theta.forEach((tensor, t) => {
      tensor.forEach((got, i) => {
        const step = Math.fround(lr) * aggregate[t]![i]!;
        const exact = before[t]![i]! - step;
        // f32(lr·a) is off by at most half an ulp of |lr·a|, the f32 difference by half an ulp of
        // the result: 2^-24 of each, relative.
        expect(Math.abs(got - exact)).toBeLessThanOrEqual(2 ** -24 * (Math.abs(exact) + Math.abs(step)) * 1.000001);
        expect(got).toBe(Math.fround(before[t]![i]! - Math.fround(Math.fround(lr) * aggregate[t]![i]!)));
      });
    });
  });

  it('defaults to lr 1.0 and leaves θ unchanged at lr 0', () => {
    const theta = [randn(50, 5)];
    const aggregate = [randn(50, 6)];
    const copy = theta[0]!.slice();
    outerStep(theta, aggregate, 0);
    expect(theta[0]).toEqual(copy);
    outerStep(theta, aggregate);
    expect(theta[0]).toEqual(copy.map((v, i) => v - aggregate[0]![i]!));
  });

  it("scales a decision's learning rate by √n for its n usable payloads, at most by 2 (the earlier rule: not at all)", () => {
    expect(decisionLr(0.7, 1)).toBe(0.7); // a swarm of one (a tab's solo run) steps as before
    expect(decisionLr(1, 2)).toBe(Math.SQRT2);
    expect(decisionLr(0.5, 3)).toBe(0.5 * Math.sqrt(3));
    expect(decisionLr(1, 4)).toBe(2);
    expect(decisionLr(1, 16)).toBe(2);
    expect(decisionLr(0.5, 8)).toBe(1);
    expect(decisionLr(1, 8, 'none')).toBe(1);
    expect(decisionLr(1, 0)).toBe(0);
    expect(() => decisionLr(1, 2.5)).toThrow(/2.5 is not a number of peers/);
    expect(() => decisionLr(1, 4, 'linear' as 'none')).toThrow(/lr scaling must be 'sqrt' or 'none'/);
  });

  it('refuses mismatched tensors', () => {
    expect(() => outerStep([randn(4, 1)], [randn(5, 1)])).toThrow(/tensor 0 has 4 parameters but 5 aggregate values/);
    expect(() => outerStep([randn(4, 1)], [])).toThrow(/1 parameter tensors but 0 aggregate tensors/);
  });
});

describe('a decision replayed in two separate Node processes', () => {
  it('yields the same model hash in both, equal to this process’s', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'webloco-decision-'));
    try {
      const wire = wireLayoutOf(LAYOUT);
      const origin = { runId: 'determinism', round: 3, baseModelHash: new Uint8Array(32) };
      // Four peers' real compressed pseudo-gradients, of very different sizes so clipping is active.
      const { tensors, flatLength } = packedSlots(LAYOUT);
      const payloadPaths = [1, 2, 3, 4].map((p) => {
        const sent = new ErrorFeedback(tensors, flatLength, 0, { nullRounds: 0 }).compress(0, randn(flatLength, p, 10 ** -p))!;
        const path = join(dir, `peer-${p}.wlco`);
        writeFileSync(path, encodeUpdate(origin, sent, wire));
        return path;
      });
      const replay: DecisionReplay = { layout: LAYOUT, thetaSeed: 42, payloadPaths, lr: 0.9 };
      const configPath = join(dir, 'replay.json');
      writeFileSync(configPath, JSON.stringify(replay));

      const run = promisify(execFile);
      const child = new URL('./apply-decision.child.ts', import.meta.url).pathname;
      const outputs = await Promise.all(
        [0, 1].map(() => run(process.execPath, ['--import', 'tsx', child, configPath], { cwd: process.cwd(), timeout: 60_000 })),
      );
      const reports = outputs.map(({ stdout }) => JSON.parse(stdout) as { pid: number; hash: string });
      expect(reports[0]!.pid).not.toBe(reports[1]!.pid);
      expect(reports[0]!.hash).toMatch(/^[0-9a-f]{64}$/);
      expect(reports[1]!.hash).toBe(reports[0]!.hash);
      expect(applyDecision(replay)).toBe(reports[0]!.hash);
      expect(modelHash(LAYOUT, replayTheta(replay))).not.toBe(reports[0]!.hash);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ErrorFeedback', () => {
  const { tensors, flatLength: size } = packedSlots(LAYOUT);
  const pseudoGradient = (seed: number) => randn(size, seed, 1e-3);
  const dense = (update: CompressedUpdate, feedback: ErrorFeedback) => {
    const out = new Float32Array(feedback.error.length);
    feedback.tensors.forEach((slot, t) => out.set(decompressTensor(update.tensors[t]!, slot.shape), slot.offset));
    return out;
  };

  it('sends nothing and keeps e = 0 in the two rounds after joining', () => {
    const feedback = new ErrorFeedback(tensors, size, 10);
    expect([9, 10, 11, 12].map((r) => feedback.isNullRound(r))).toEqual([true, true, true, false]);
    expect(feedback.compress(10, pseudoGradient(1))).toBeNull();
    expect(feedback.compress(11, pseudoGradient(2))).toBeNull();
    expect(feedback.error.every((v) => v === 0)).toBe(true);
    // The first real round starts from e = 0: e = Δ − decompress(sent), exactly (one f32 subtraction).
    const delta = pseudoGradient(3);
    const sent = feedback.compress(12, delta)!;
    const transmitted = dense(sent, feedback);
    feedback.error.forEach((e, i) => expect(e).toBe(Math.fround(delta[i]! - transmitted[i]!)));
    expect(feedback.tensorError(1)).toEqual(feedback.error.subarray(128 * 64, 128 * 64 + 100 * 48));
  });

  it('carries e ← β·e + Δ − decompress(sent) from round to round (float64 reference)', () => {
    const feedback = new ErrorFeedback(tensors, size, 0, { nullRounds: 0 });
    for (let round = 0; round < 3; round++) {
      const previous = Float64Array.from(feedback.error);
      const delta = pseudoGradient(10 + round);
      const sent = feedback.compress(round, delta)!;
      const transmitted = dense(sent, feedback);
      feedback.error.forEach((e, i) => {
        const decayed = 0.95 * previous[i]! + delta[i]!;
        const expected = decayed - transmitted[i]!;
        // f32(0.95) is 1.3e-8 below 0.95 (relative to β·e); then three f32 roundings (product,
        // sum, difference), each within 2^-24 of its own result.
        const bound =
          1.3e-8 * Math.abs(previous[i]!) + 2 ** -24 * 1.01 * (0.95 * Math.abs(previous[i]!) + Math.abs(decayed) + Math.abs(expected));
        expect(Math.abs(e - expected)).toBeLessThanOrEqual(bound);
      });
    }
  });

  it("works on the model's own aligned flat layout, leaving the padding at zero", () => {
    const model = parameterLayout(preset('tiny'));
    const feedback = new ErrorFeedback(model.tensors, model.totalFloats, 0, { nullRounds: 0 });
    const delta = randn(model.totalFloats, 30, 1e-3);
    const sent = feedback.compress(0, delta)!;
    expect(sent.tensors.length).toBe(model.tensors.length);
    const inside = new Uint8Array(model.totalFloats);
    for (const t of model.tensors) inside.fill(1, t.offset, t.offset + t.size);
    feedback.error.forEach((e, i) => {
      if (!inside[i]) expect(e).toBe(0);
    });
    expect(() =>
      encodeUpdate({ runId: 'r', round: 0, baseModelHash: new Uint8Array(32) }, sent, wireLayoutOf(model.tensors)),
    ).not.toThrow();
  });

  it('produces a poisoned update the encoder refuses once e holds a NaN', () => {
    const feedback = new ErrorFeedback(tensors, size, 0, { nullRounds: 0 });
    const delta = pseudoGradient(20);
    delta[5] = NaN;
    const sent = feedback.compress(0, delta)!;
    expect(() => encodeUpdate({ runId: 'r', round: 0, baseModelHash: new Uint8Array(32) }, sent, wireLayoutOf(LAYOUT))).toThrow(CodecError);
    feedback.reset();
    expect(feedback.error.every((v) => v === 0)).toBe(true);
  });

  it('refuses a pseudo-gradient that does not fit the layout', () => {
    const feedback = new ErrorFeedback(tensors, size, 0);
    expect(() => feedback.compress(5, new Float32Array(3))).toThrow(/pseudo-gradient holds 3 values, the flat layout 13062/);
    expect(() => new ErrorFeedback(tensors, size, 0, { beta: 1.5 })).toThrow(/beta 1.5 must be in \[0, 1\]/);
    expect(() => new ErrorFeedback(tensors, size - 1, 0)).toThrow(/tensor 'rows' at offset 12992 runs past the flat length 13061/);
  });
});
