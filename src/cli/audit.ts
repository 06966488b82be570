// `webloco audit --hub URL --round R`: re-scores a past round from public data and compares with
// what the hub's Gauntlet published. θ_R is rebuilt from θ_0 (the run's seed) and the chain's
// decisions (each checked against the model hash it names), the round's payloads come from the
// hub's object store by hash, the judgement (standings before the round, the uploads in order,
// the record with its revealed evaluation seed) from GET /api/gauntlet/rounds/R. Prints one JSON
// line {round, ok, maxDifference, problems}; exits 1 when the published round does not reproduce.
import { HttpChain } from '../chain/http-chain.ts';
import { fetchHubJson, fetchHubObject, requireRunInfo } from '../client/hub-api.ts';
import { ensureShards } from '../data/node.ts';
import { applyDecision, hashHex, initialModel } from '../engine/global-model.ts';
import { tokenizerFor } from '../engine/policy.ts';
import { auditRound } from '../gauntlet/audit.ts';
import type { DecisionRecord } from '../gauntlet/round.ts';
import type { GauntletState } from '../gauntlet/standings.ts';
import { Validator } from '../gauntlet/validator.ts';
import { nodeGpuDevice } from '../gpu/node.ts';
import { GpuRuntime } from '../gpu/runtime.ts';
import { preset } from '../model/config.ts';
import { blake3Ready } from '../base/blake3.ts';
import { toContentHash } from '../base/content-hash.ts';
import { parseArgs } from './args.ts';

interface PublishedRound {
  record: DecisionRecord;
  previous: GauntletState;
  submissions: { hotkey: string; payloadHash: string }[];
  recentModels: [string, number][];
}

export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv, { hub: 'string', round: 'number' });
  if (!args.hub || args.round === undefined) throw new Error('usage: webloco audit --hub http://HOST:PORT --round R');
  const hub = args.hub;
  const round = args.round;
  const info = await requireRunInfo(hub);
  const published = await fetchHubJson<PublishedRound>(hub, `/api/gauntlet/rounds/${round}`);
  const config = preset(info.settings.preset);
  const data = await ensureShards(tokenizerFor(config));
  await blake3Ready();
  const chain = await HttpChain.connect(hub);
  const rt = new GpuRuntime(await nodeGpuDevice());
  const validator = await Validator.create(rt, {
    runId: info.runId,
    config,
    trainTokens: data.train.tokens,
    seqLen: info.settings.seqLen,
    secret: 'audit',
  });
  try {
    const { layout, wire } = validator.context;
    // θ_R from θ_0 and the decisions before R, each checked against the chain's model hash.
    let model = initialModel(layout, info.settings.seed);
    for (let r = 0; r < round; r++) {
      const decision = await chain.decision(r);
      if (!decision) throw new Error(`the chain has no decision for round ${r}`);
      const payloads = await Promise.all(decision.decision.payloadHashes.map((h) => fetchHubObject(hub, toContentHash(h))));
      model = applyDecision(layout, wire, model, { runId: info.runId, round: r }, payloads);
      if (hashHex(model) !== toContentHash(decision.decision.modelHash))
        throw new Error(`round ${r}'s decision names model ${decision.decision.modelHash}, its payloads give ${hashHex(model)}`);
    }
    const submissions = await Promise.all(
      published.submissions.map(async (s) => ({ hotkey: s.hotkey, payload: await fetchHubObject(hub, s.payloadHash) })),
    );
    const result = await auditRound(
      validator.evaluator,
      validator.context,
      published.previous,
      { round, base: model, submissions, recentModels: new Map(published.recentModels) },
      published.record,
    );
    console.log(JSON.stringify({ round, ok: result.ok, maxDifference: result.maxDifference, problems: result.problems }));
    if (!result.ok) process.exitCode = 1;
  } finally {
    validator.destroy();
    rt.destroy();
  }
}
