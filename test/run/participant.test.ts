// Swarm rounds in one process, on loopback: a hub (its dev chain and round keeper) and Node
// participants, each with its own libp2p node, session, chain client and engine peer (sharing one
// GPU runtime). Their payloads make every decision and they all reach the model hash the
// decision names; when one leaves the rounds go on without it; a member that joins late loads the
// checkpoint (or its own saved θ, when the chain vouches for it), replays the decisions since and
// holds the current model.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureShards } from '../../src/data/node.ts';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { startHub, type Hub } from '../../src/hub/hub.ts';
import { toContentHash } from '../../src/base/content-hash.ts';
import { testRuntime } from '../helpers/gpu.ts';
import { createHeadlessMember, type HeadlessMemberOptions } from '../../src/run/member.ts';

// 8 s rounds: a member trains 2 steps of 2×16 tokens and commits well inside one, even on a busy software GPU.
// Members that start with the run (nullRounds 0) commit from their first round: no binding age, a cheap proof of work.
const RUN = {
  innerSteps: 2,
  batch: 2,
  seqLen: 16,
  blocksPerRound: 32,
  blockTimeMs: 250,
  checkpointEvery: 1,
  bindingWorkBits: 12,
  bindingAgeRounds: 0,
};

let rt: GpuRuntime;
const member = (extra: Pick<HeadlessMemberOptions, 'localCheckpoint'> = {}) =>
  createHeadlessMember({ hubUrl: hub.http, rt, data, nullRounds: 0, discoveryIntervalMs: 500, ...extra });
let hub: Hub;
let data: { train: Uint16Array; heldOut: Uint16Array };

function tempDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `webloco-${name}-`));
}

beforeAll(async () => {
  rt = await testRuntime();
  const shards = await ensureShards('bytes');
  data = { train: shards.train.tokens, heldOut: shards.heldout.tokens };
  const app = tempDir('app');
  mkdirSync(app, { recursive: true });
  writeFileSync(join(app, 'index.html'), '<!doctype html><title>WebLoCo</title>');
  hub = await startHub({ port: 0, dataDir: tempDir('hub'), appDir: app, runId: 'rounds-test', discoveryIntervalMs: 500, run: RUN });
}, 300_000);

afterAll(async () => {
  await hub?.stop();
});

describe('swarm rounds', () => {
  it('two members contribute to every decision and reach the model hash it names; rounds go on when one leaves; a late one catches up', async () => {
    const a = await member();
    const b = await member();
    try {
      await Promise.all([a.participant.join(), b.participant.join()]);
      await Promise.all([a.participant.run(2), b.participant.run(2)]);
      expect(a.reports.map((r) => r.round)).toEqual(b.reports.map((r) => r.round));
      for (const [ra, rb] of a.reports.map((r, i) => [r, b.reports[i]!] as const)) {
        expect(ra.modelHash).toBe(rb.modelHash);
        const decision = await hub.chain!.decision(ra.round);
        expect(toContentHash(decision!.decision.modelHash)).toBe(ra.modelHash);
      }
      // In the last round both trained and committed in time: both payloads made the decision.
      expect([a.reports.at(-1)!.included, b.reports.at(-1)!.included]).toEqual([true, true]);
      expect(a.reports.at(-1)!.decisionSize).toBe(2);
      // Its GPU trained in that round, for part of the round's wall time; the run's figure sums the rounds.
      for (const { gpu } of [a.reports.at(-1)!, b.reports.at(-1)!]) {
        expect(gpu.round.trainingMs).toBeGreaterThan(0);
        expect(gpu.round.trainingMs).toBeLessThan(gpu.round.wallMs);
      }
      // Each fetched the other's payload as it was announced: in some round a decision of two found both held.
      expect([...a.reports, ...b.reports].some((r) => r.decisionSize === 2 && r.heldAtDecision === 2)).toBe(true);
      const summed = a.reports.reduce((sum, r) => sum + r.gpu.round.trainingMs, 0);
      expect(a.reports.at(-1)!.gpu.run.trainingMs).toBeCloseTo(summed, 6);
      expect(a.reports.at(-1)!.gpu.run.wallMs).toBeCloseTo(
        a.reports.reduce((sum, r) => sum + r.gpu.round.wallMs, 0),
        6,
      );

      // b leaves: the next round closes on the chain's clock all the same, with a's payload alone.
      await b.stop();
      await a.participant.run(1);
      expect(a.reports.at(-1)).toMatchObject({ included: true, decisionSize: 1 });

      // A member joining now loads the newest checkpoint, replays what followed, and within one
      // round holds the model the chain's decision names. Given a saved θ of its own (a reloaded
      // tab), it starts from that instead, but only when the chain names its model hash.
      const saved = { round: a.participant.round, modelHash: a.engine.modelHash, files: await a.engine.checkpoint() };
      const offered = [{ ...saved, modelHash: 'ab'.repeat(32) }, saved];
      const late = await member({ localCheckpoint: async () => offered.shift() ?? null });
      try {
        await late.participant.join();
        expect(late.participant.joinedFrom?.source).toBe('hub');
        await late.participant.join();
        expect(late.participant.joinedFrom).toMatchObject({ source: 'local', round: saved.round });
        await late.participant.run(1);
        const reached = late.reports[0]!;
        const decision = await hub.chain!.decision(reached.round);
        expect(reached.modelHash).toBe(toContentHash(decision!.decision.modelHash));
      } finally {
        await late.stop();
      }
    } finally {
      await a.stop();
      await b.stop().catch(() => undefined);
    }
  }, 600_000);
});
