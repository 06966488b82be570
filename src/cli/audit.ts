// `webloco audit --hub URL --round R`: re-scores a past round from public data and compares with
// what the hub's Gauntlet published. θ_R is rebuilt from the newest checkpoint the hub keeps at or
// before R (the chain must vouch for it: the decision of the round before names its model hash, or
// θ_0 of the run's seed) and the chain's decisions since, each checked against the model hash it
// names; a round older than the hub keeps (GET /api/retention) is refused. The round's payloads come
// from the hub's object store by hash, the judgement (standings before the round, the uploads in
// order, the record with its revealed evaluation seed) from GET /api/gauntlet/rounds/R. Prints one
// JSON line {round, ok, maxDifference, problems}; exits 1 when the published round does not
// reproduce. With `--authority` a hub serving another chain is refused before anything else is read.
import { blake3Ready } from '../base/blake3.ts';
import { ensureShards } from '../data/node.ts';
import { hashHex, initialModel, modelFromCheckpoint } from '../engine/global-model.ts';
import { tokenizerFor } from '../engine/policy.ts';
import { auditRound } from '../gauntlet/audit.ts';
import { Validator } from '../gauntlet/validator.ts';
import { nodeGpuDevice } from '../gpu/node.ts';
import { GpuRuntime } from '../gpu/runtime.ts';
import { preset } from '../model/config.ts';
import { chainDecisions, checkVouchedModel, followDecision, ModelReplica } from '../run/follow.ts';
import { connectToRun, fetchHubObject, fetchJudgedRound, fetchRetention } from '../run/hub-client.ts';
import type { CommandSpec, OptionValues } from './args.ts';
import { AUTHORITY_OPTION, authorityPin } from './authority.ts';

export const command = {
  name: 'audit',
  summary: "re-score a past round from public data and compare with what the hub's Gauntlet published; exits 1 on a mismatch",
  options: {
    hub: { kind: 'string', placeholder: 'URL', help: "the hub's http address" },
    authority: AUTHORITY_OPTION,
    round: { kind: 'number', placeholder: 'R', help: 'the round to re-score' },
  },
  required: ['hub', 'round'],
} satisfies CommandSpec;

export async function run(args: OptionValues<typeof command.options>): Promise<void> {
  const hub = args.hub!;
  const round = args.round!;
  const authority = authorityPin(args.authority);
  await blake3Ready();
  const { info, chain } = await connectToRun(hub, authority ? { authority } : {});
  const [retention, published] = await Promise.all([fetchRetention(hub), fetchJudgedRound(hub, round)]).catch((err: unknown) => {
    chain.close();
    throw err;
  });
  if (round < retention.fromRound) {
    chain.close();
    throw new Error(
      `round ${round} is older than the hub at ${hub} keeps (rounds from ${retention.fromRound} on, GET /api/retention): it cannot be audited from this hub`,
    );
  }
  const config = preset(info.settings.preset);
  const data = await ensureShards(tokenizerFor(config));
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
    // θ_R from the newest checkpoint the hub keeps at or before R (vouched for by the chain), then
    // the chain's decisions up to R, each checked against the model hash it names.
    const base = retention.checkpoints.filter((c) => c.round <= round).at(-1);
    if (!base) throw new Error(`the hub keeps no checkpoint at or before round ${round} (it keeps rounds from ${retention.fromRound} on)`);
    const checkpoint = modelFromCheckpoint(layout, await fetchHubObject(hub, base.objectHash, base.bytes));
    await checkVouchedModel(
      chain,
      base.round,
      hashHex(checkpoint),
      () => hashHex(initialModel(layout, info.settings.seed)),
      "the hub's checkpoint",
    );
    const replica = new ModelReplica(layout, wire, info.runId, checkpoint, (hash) => fetchHubObject(hub, hash));
    let next = base.round;
    for await (const { round: r, decision } of chainDecisions(chain, base.round, { until: round })) {
      await followDecision(r, decision, replica);
      next = r + 1;
    }
    if (next < round) throw new Error(`the chain has no decision for round ${next}`);
    const submissions = await Promise.all(
      published.submissions.map(async (s) => ({ hotkey: s.hotkey, payload: await fetchHubObject(hub, s.payloadHash) })),
    );
    const input = { round, base: replica.model, submissions, recentModels: new Map(published.recentModels) };
    const result = await auditRound(validator.evaluator, validator.context, published.previous, input, published.record);
    console.log(JSON.stringify({ round, ok: result.ok, maxDifference: result.maxDifference, problems: result.problems }));
    if (!result.ok) process.exitCode = 1;
  } finally {
    chain.close();
    validator.destroy();
    rt.destroy();
  }
}
