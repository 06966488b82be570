// The Gauntlet deciding a real swarm's rounds: a hub whose validator scores on the GPU, two honest
// members and two adversaries (a copycat and a scaled peer) over libp2p on loopback, four rounds.
// No adversary's payload is ever in a decision, every honest member reaches the model hash each
// decision names, and `webloco audit` re-scores a published round from public data alone.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureShards } from '../../src/data/node.ts';
import { Validator } from '../../src/gauntlet/validator.ts';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import { startHub, type Hub } from '../../src/hub/hub.ts';
import { preset } from '../../src/model/config.ts';
import { toContentHash } from '../../src/base/content-hash.ts';
import { testRuntime } from '../helpers/gpu.ts';
import { createHeadlessMember, type HeadlessMember as Member } from '../../src/run/member.ts';

// 8 s rounds: four members train one after another on the one software GPU, then the validator scores.
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
const ROUNDS = 4;

let rt: GpuRuntime;
let hub: Hub;
let validator: Validator;
let data: { train: Uint16Array; heldOut: Uint16Array };

beforeAll(async () => {
  rt = await testRuntime();
  const shards = await ensureShards('bytes');
  data = { train: shards.train.tokens, heldOut: shards.heldout.tokens };
  const app = mkdtempSync(join(tmpdir(), 'webloco-app-'));
  mkdirSync(app, { recursive: true });
  writeFileSync(join(app, 'index.html'), '<!doctype html><title>WebLoCo</title>');
  validator = await Validator.create(rt, {
    runId: 'gauntlet-swarm',
    config: preset('tiny'),
    trainTokens: data.train,
    seqLen: RUN.seqLen,
    secret: 'test',
  });
  hub = await startHub({
    port: 0,
    dataDir: mkdtempSync(join(tmpdir(), 'webloco-hub-')),
    appDir: app,
    runId: 'gauntlet-swarm',
    discoveryIntervalMs: 500,
    run: RUN,
    gauntlet: validator,
  });
}, 300_000);

afterAll(async () => {
  await hub?.stop();
  validator?.destroy();
});

describe('the Gauntlet in a swarm', () => {
  it('keeps a copycat and a scaled peer out of every decision while honest members agree on the model; a round audits', async () => {
    const members: Member[] = [];
    try {
      for (const behavior of ['honest', 'honest', 'copycat', 'scaled'] as const)
        members.push(await createHeadlessMember({ hubUrl: hub.http, rt, data, behavior, nullRounds: 0, discoveryIntervalMs: 500 }));
      const [honestA, honestB, copycat, scaled] = members as [Member, Member, Member, Member];
      await Promise.all(members.map((m) => m.participant.join()));
      await Promise.all(members.map((m) => m.participant.run(ROUNDS)));

      const adversarial = new Set([...copycat.reports, ...scaled.reports].map((r) => r.payloadHash).filter((h): h is string => h !== null));
      expect(adversarial.size).toBeGreaterThan(0); // they did send
      const rounds = honestA.reports.map((r) => r.round);
      expect(rounds).toHaveLength(ROUNDS);
      let honestIncluded = 0;
      for (const round of rounds) {
        const decision = (await hub.chain!.decision(round))!.decision;
        const gathered = decision.payloadHashes.map((h) => toContentHash(h));
        expect(gathered.filter((h) => adversarial.has(h))).toEqual([]);
        for (const honest of [honestA, honestB]) {
          const report = honest.reports.find((r) => r.round === round)!;
          expect(report.modelHash).toBe(toContentHash(decision.modelHash));
          if (report.included) honestIncluded++;
        }
      }
      expect(honestIncluded).toBeGreaterThan(0);
      // The adversaries were told why, round by round.
      expect(copycat.reports.every((r) => !r.included)).toBe(true);
      expect(scaled.reports.every((r) => !r.included)).toBe(true);

      // Anyone can re-score a published round from public data (θ from the chain's decisions, the payloads, the record).
      const audited = rounds[1]!;
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['bin/webloco.mjs', 'audit', '--hub', hub.http, '--round', String(audited)],
        { encoding: 'utf8' },
      );
      const audit = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
        round: number;
        ok: boolean;
        maxDifference: number;
        problems: string[];
      };
      expect(audit).toMatchObject({ round: audited, ok: true, problems: [] });
      expect(audit.maxDifference).toBeLessThanOrEqual(1e-4);
    } finally {
      for (const m of members) await m.stop();
    }
  }, 900_000);
});
