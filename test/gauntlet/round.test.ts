// Two rounds of the Gauntlet on Dawn with real peers: honest payloads from two trained peers and
// one payload of every behaviour that integrity must catch, announced with real session keys
// through the simulation judge. Checks: every bad payload is refused before scoring, with its
// reason in the decision record; the copycat is reset, the noise scored below the honest peers
// and never admitted (payloads count only once an evaluation admits their peer); H_{w+1} is what applying the record's payloads gives;
// the signed chain decision verifies; and the audit reproduces the round, and notices tampering.
import { bytesToHex } from '@noble/hashes/utils.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { verifyValidatorStatement, parseDecision } from '../../src/chain/extrinsics.ts';
import { ensureShards } from '../../src/data/node.ts';
import { adversarialPayload, type Behavior } from '../../src/engine/adversary.ts';
import { applyDecision, hashHex, initialModel, type GlobalModel } from '../../src/engine/global-model.ts';
import { contentHash } from '../../src/base/content-hash.ts';
import { Peer, type Contribution, type PeerData } from '../../src/engine/peer.ts';
import type { SimulatedSubmission } from '../../src/engine/simulate.ts';
import { auditRound } from '../../src/gauntlet/audit.ts';
import { LossEvaluator } from '../../src/gauntlet/evaluator.ts';
import { mayBeGathered } from '../../src/gauntlet/round.ts';
import { GauntletJudge } from '../../src/gauntlet/simulation.ts';
import { signDecisionRecord, type JudgedRound } from '../../src/gauntlet/validator.ts';
import { SigningKey } from '../../src/identity/keys.ts';
import { preset } from '../../src/model/config.ts';
import { parameterLayout } from '../../src/model/layout.ts';
import { encodeUpdate } from '../../src/sparseloco/codec.ts';
import { testRuntime } from '../helpers/gpu.ts';

const runId = 'gauntlet-round';
const config = preset('tiny');
let data: PeerData;
beforeAll(async () => {
  const shards = await ensureShards('bytes');
  data = { train: shards.train.tokens, heldOut: shards.heldout.tokens };
}, 300_000);

describe('Gauntlet round', () => {
  it('refuses forged, stale, wrong-model, malformed, oversized and scaled payloads before scoring, resets the copycat, never admits the noise, and the audit reproduces the round', async () => {
    const rt = await testRuntime();
    const theta0 = initialModel(parameterLayout(config, rt.limits), 0);
    // Two honest peers; each trains on exactly its first 8 windows (4 steps × 2 rows), the 8 the validator evaluates.
    const peerOptions = (hotkey: string) => ({
      config,
      identity: { runId, hotkey },
      batch: 2,
      seqLen: 32,
      innerSteps: 4,
      rounds: 2,
      nullRounds: 0,
      evalBatches: 1,
    });
    const peers = [
      await Peer.create(rt, peerOptions('peer-a'), data, { theta: theta0.theta.slice(), hash: theta0.hash }),
      await Peer.create(rt, peerOptions('peer-b'), data, { theta: theta0.theta.slice(), hash: theta0.hash }),
    ];
    const judged: JudgedRound[] = [];
    const judge = await GauntletJudge.create(rt, {
      runId,
      config,
      trainTokens: data.train,
      seqLen: 32,
      secret: 'round-test',
      onRound: (j) => judged.push(j),
    });
    const auditor = await LossEvaluator.create(rt, config, 8, 32);
    try {
      const base0: GlobalModel = { theta: peers[0]!.theta, hash: peers[0]!.modelHashBytes };
      const [a0, b0] = (await Promise.all([peers[0]!.contribute(0), peers[1]!.contribute(0)])).map((r) => r.contribution!) as [
        Contribution,
        Contribution,
      ];
      const wire = peers[0]!.wire;
      const bad = (behavior: Behavior, honest: Contribution) =>
        adversarialPayload(behavior, {
          origin: { runId, round: 0, baseModelHash: base0.hash },
          wire,
          layout: peers[0]!.layout.tensors,
          honest,
          previous: null,
          earlier: [a0.payload, b0.payload],
          seed: 5,
        })!;
      const submit = (hotkey: string, payload: Uint8Array, sender = hotkey): SimulatedSubmission => ({
        hotkey,
        sender,
        payload,
        payloadHash: contentHash(payload),
      });
      const round0 = [
        submit('peer-a', a0.payload),
        submit('peer-b', b0.payload),
        submit('noise', bad('noise', a0)),
        submit('copycat', bad('copycat', a0)),
        submit('scaled', bad('scaled', b0)),
        submit('nan', bad('nan', b0)),
        submit('oversized', bad('oversized', a0)),
        // The forger announces its payload under peer-b's binding, signed with its own session key.
        submit('peer-b', bad('signflip', a0), 'forger'),
        submit('wrong-model', encodeUpdate({ runId, round: 0, baseModelHash: new Uint8Array(32).fill(1) }, a0.update, wire)),
      ];
      const decision0 = await judge.decide(0, base0, round0);
      const record0 = judge.records[0]!;

      const reasons = Object.fromEntries(record0.rejected.map((r) => [r.peer === 'peer-b' ? 'forger' : r.peer, r.reason]));
      expect(reasons).toEqual({
        scaled: 'norm-outlier',
        nan: 'malformed',
        oversized: 'oversized',
        forger: 'forged',
        'wrong-model': 'wrong-model',
      });
      expect(record0.rejected.find((r) => r.reason === 'forged')!.detail).toMatch(/not signed by the session key/);
      // Rejected before scoring: only sound payloads were measured, and the copycat (later uploader) was not.
      expect(record0.measurements.map((m) => m.hotkey)).toEqual(['noise', 'peer-a', 'peer-b']);
      expect(record0.scores.find((s) => s.hotkey === 'copycat')).toMatchObject({ reset: true, penalties: ['copy'] });
      expect(record0.scores.find((s) => s.hotkey === 'copycat')!.overlap).toBeGreaterThanOrEqual(0.5);
      // Everyone is new in round 0: every sound, uncopied payload is evaluated before the decision,
      // and only those that lower the loss enough are admitted and gathered; the noise is not.
      expect(record0.admission.admitted).toEqual(['peer-a', 'peer-b']);
      expect([...record0.gathered].sort()).toEqual(['peer-a', 'peer-b']);
      // H_{w+1} is exactly what applying the record's payloads gives.
      const byHash = new Map(round0.map((s) => [s.payloadHash, s.payload]));
      const next = applyDecision(
        peers[0]!.layout,
        wire,
        base0,
        { runId, round: 0 },
        decision0.payloadHashes.map((h) => byHash.get(h)!),
      );
      expect(hashHex(next)).toBe(record0.nextModelHash);
      expect(decision0.nextModelHash).toBe(record0.nextModelHash);

      // The scores: honest updates help on random data; noise helps less than admission asks, and stays on probation.
      const score = (h: string) => record0.scores.find((s) => s.hotkey === h && s.evaluated)!;
      expect(score('peer-a').gradientScore).toBeGreaterThan(0);
      expect(score('peer-b').gradientScore).toBeGreaterThan(0);
      expect(score('noise').gradientScore).toBeLessThan(record0.admission.minGain!);
      expect(score('noise').admitted).toBe(false);
      const state0 = judge.validator.state;
      expect(mayBeGathered(state0, 'noise', judge.validator.context.config)).toBe(false);
      for (const h of ['copycat', 'scaled', 'nan', 'oversized', 'wrong-model'])
        expect(mayBeGathered(state0, h, judge.validator.context.config), h).toBe(false);

      // The chain statement: the exact list and H_{w+1}, signed by the validator's key.
      const key = SigningKey.generate('sr25519');
      const signed = signDecisionRecord(key, record0, 0);
      const { statement } = verifyValidatorStatement(signed, 'decision', parseDecision);
      expect(statement.payloadHashes).toEqual(record0.payloadHashes.map((h) => `0x${h}`));
      expect(statement.modelHash).toBe(`0x${record0.nextModelHash}`);

      // The audit replays the recorded round from public data and gets the same numbers.
      const { previous, input, record } = judged[0]!;
      const audit = await auditRound(auditor, judge.validator.context, previous, input, record);
      expect(audit.problems).toEqual([]);
      expect(audit.ok).toBe(true);
      expect(audit.maxDifference).toBeLessThanOrEqual(1e-6);
      const tampered = structuredClone(record);
      tampered.scores.find((s) => s.hotkey === 'peer-a' && s.evaluated)!.final += 0.01;
      tampered.measurements[0]!.lossAfterRandom += 0.01;
      const caught = await auditRound(auditor, judge.validator.context, previous, input, tampered);
      expect(caught.ok).toBe(false);
      expect(caught.problems.join('\n')).toMatch(/peer-a final/);
      expect(caught.problems.join('\n')).toMatch(/noise lossAfterRandom/);

      // Round 1: a stale peer resends round 0's payload; the noise peer tries again.
      const payloads0 = decision0.payloadHashes.map((h) => byHash.get(h)!);
      for (const peer of peers) peer.applyDecision(0, payloads0);
      const base1: GlobalModel = { theta: peers[0]!.theta, hash: peers[0]!.modelHashBytes };
      expect(bytesToHex(base1.hash)).toBe(record0.nextModelHash);
      const [a1, b1] = (await Promise.all([peers[0]!.contribute(1), peers[1]!.contribute(1)])).map((r) => r.contribution!) as [
        Contribution,
        Contribution,
      ];
      const noise1 = adversarialPayload('noise', {
        origin: { runId, round: 1, baseModelHash: base1.hash },
        wire,
        layout: peers[0]!.layout.tensors,
        honest: null,
        previous: null,
        earlier: [],
        seed: 6,
      })!;
      await judge.decide(1, base1, [
        submit('peer-a', a1.payload),
        submit('peer-b', b1.payload),
        submit('stale', a0.payload),
        submit('noise', noise1),
      ]);
      const record1 = judge.records[1]!;
      expect(record1.rejected).toEqual([expect.objectContaining({ peer: 'stale', reason: 'stale' })]);
      expect(record1.scores.find((s) => s.hotkey === 'stale')).toMatchObject({ failure: 'stale', penalties: ['missing', 'out-of-sync'] });
      expect(record1.gathered).not.toContain('noise');
      expect(record1.gathered).not.toContain('stale');
    } finally {
      auditor.destroy();
      judge.destroy();
      for (const peer of peers) peer.destroy();
    }
  }, 600_000);
});
