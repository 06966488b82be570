// `webloco validator --hub URL`: a Gauntlet validator of its own, on this machine's GPU (Dawn),
// following a run from public data. It starts from the hub's newest checkpoint, and for every
// round the chain decides it judges the round's committed payloads itself (its own evaluation
// seeds), then follows the chain's decision to θ_{w+1}, checking the model hash. One line a round:
//   {"round","committed","decided","gathered","agrees","rejected","top"}
// where `agrees` says whether its gather set is the decision's. Any stake-holder can run one to
// check the run's validator; with a key among the chain's validators it would also set weights.
import { randomHex } from '../base/hex.ts';
import { waitForDecision } from '../chain/chain.ts';
import { HttpChain } from '../chain/http-chain.ts';
import { fetchHubObject, requireRunInfo } from '../client/hub-api.ts';
import { ensureShards } from '../data/node.ts';
import { applyDecision, hashHex, modelFromCheckpoint, type GlobalModel } from '../engine/global-model.ts';
import { tokenizerFor } from '../engine/policy.ts';
import { Validator } from '../gauntlet/validator.ts';
import { nodeGpuDevice } from '../gpu/node.ts';
import { GpuRuntime } from '../gpu/runtime.ts';
import { preset } from '../model/config.ts';
import { blake3Ready } from '../base/blake3.ts';
import { toContentHash } from '../base/content-hash.ts';
import { parseArgs, printer } from './args.ts';

export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv, { hub: 'string', rounds: 'number', json: 'boolean' });
  if (!args.hub) throw new Error('usage: webloco validator --hub http://HOST:PORT [--rounds N] [--json]');
  const hub = args.hub;
  const print = printer(args.json);
  const info = await requireRunInfo(hub);
  const config = preset(info.settings.preset);
  const data = await ensureShards(tokenizerFor(config));
  await blake3Ready();
  const chain = await HttpChain.connect(hub);
  const rt = new GpuRuntime(await nodeGpuDevice());
  const secret = randomHex(32);
  let round = info.checkpoint.round;
  // Its standings start empty at the round it joins: it has seen nobody yet.
  const validator = await Validator.create(rt, {
    runId: info.runId,
    config,
    trainTokens: data.train.tokens,
    seqLen: info.settings.seqLen,
    secret,
    state: { round, peers: {} },
  });
  try {
    const { layout, wire } = validator.context;
    let model: GlobalModel = modelFromCheckpoint(layout, await fetchHubObject(hub, info.checkpoint.objectHash));
    const last = round + (args.rounds ?? Infinity);
    while (round < last) {
      const decision = (await waitForDecision(chain, round))!;
      const commits = await chain.commits(round);
      const submissions = [];
      for (const { announcement } of commits) {
        const signer = await chain.binding(announcement.binding);
        if (!signer) continue;
        try {
          submissions.push({ hotkey: signer.binding.hotkey, payload: await fetchHubObject(hub, toContentHash(announcement.payloadHash)) });
        } catch {
          // the hub never got it: a missing payload, as for the run's validator
        }
      }
      const { record } = await validator.judge({ round, base: model, submissions });
      const decided = decision.decision.payloadHashes.map((h) => toContentHash(h));
      const payloads = await Promise.all(decided.map((h) => fetchHubObject(hub, h)));
      model = applyDecision(layout, wire, model, { runId: info.runId, round }, payloads);
      if (hashHex(model) !== toContentHash(decision.decision.modelHash)) {
        throw new Error(
          `round ${round}: the decision's payloads give model ${hashHex(model)}, the decision names ${decision.decision.modelHash}`,
        );
      }
      print({
        round,
        committed: commits.length,
        decided: decided.length,
        gathered: record.payloadHashes.length,
        agrees: record.payloadHashes.length === decided.length && record.payloadHashes.every((h, i) => h === decided[i]),
        rejected: record.rejected.map((r) => `${r.peer.slice(0, 8)}…:${r.reason}`),
        top: validator
          .ranking()
          .slice(0, 5)
          .map((s) => ({ hotkey: s.hotkey, final: s.final })),
      });
      round++;
    }
  } finally {
    validator.destroy();
    rt.destroy();
  }
}
