// `webloco audit --hub URL --round R`: re-scores a past round from public data and compares with
// what the hub's Gauntlet published. θ_R is rebuilt from θ_0 (the run's seed) and the chain's
// decisions (each checked against the model hash it names), the round's payloads come from the
// hub's object store by hash, the judgement (standings before the round, the uploads in order,
// the record with its revealed evaluation seed) from GET /api/gauntlet/rounds/R. Prints one JSON
// line {round, ok, maxDifference, problems}; exits 1 when the published round does not reproduce.
// With `--authority` a hub serving another chain is refused before anything else is read; θ_0 from
// the hub's seed must reproduce every decision of the chain, or the audit stops saying so.
import { blake3Ready } from '../base/blake3.ts';
import { errorMessage } from '../base/errors.ts';
import { ensureShards } from '../data/node.ts';
import { initialModel } from '../engine/global-model.ts';
import { tokenizerFor } from '../engine/policy.ts';
import { auditRound } from '../gauntlet/audit.ts';
import { Validator } from '../gauntlet/validator.ts';
import { nodeGpuDevice } from '../gpu/node.ts';
import { GpuRuntime } from '../gpu/runtime.ts';
import { preset } from '../model/config.ts';
import { chainDecisions, followDecision, ModelMismatchError, ModelReplica } from '../run/follow.ts';
import { connectToRun, fetchHubObject, fetchJudgedRound } from '../run/hub-client.ts';
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
  const published = await fetchJudgedRound(hub, round).catch((err: unknown) => {
    chain.close();
    throw err;
  });
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
    // θ_R from θ_0 and the decisions before R, each checked against the chain's model hash.
    const replica = new ModelReplica(layout, wire, info.runId, initialModel(layout, info.settings.seed), (hash) =>
      fetchHubObject(hub, hash),
    );
    let next = 0;
    for await (const { round: r, decision } of chainDecisions(chain, 0, { until: round })) {
      await followDecision(r, decision, replica).catch((err: unknown) => {
        if (!(err instanceof ModelMismatchError)) throw err;
        throw new Error(
          `θ_0 of the hub's run settings (preset ${info.settings.preset}, seed ${info.settings.seed}) and the decisions' payloads do not reproduce the chain: ${errorMessage(err)}`,
          { cause: err },
        );
      });
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
