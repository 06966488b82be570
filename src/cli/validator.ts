// `webloco validator --hub URL`: a Gauntlet validator of its own, on this machine's GPU (Dawn),
// following a run from public data. It starts from the hub's newest checkpoint, and for every
// round the chain decides it judges the round's committed payloads itself (its own evaluation
// seeds), then follows the chain's decision to θ_{w+1}, checking the model hash. One line a round:
//   {"round","committed","decided","gathered","agrees","rejected","top"}
// where `agrees` says whether its gather set is the decision's. Any stake-holder can run one to
// check the run's validator. With `--authority` it refuses a hub serving another chain; the
// checkpoint it starts from is refused unless the chain vouches for its model hash.
import { blake3Ready } from '../base/blake3.ts';
import { randomHex } from '../base/hex.ts';
import { ensureShards } from '../data/node.ts';
import { hashHex, modelFromCheckpoint } from '../engine/global-model.ts';
import { tokenizerFor } from '../engine/policy.ts';
import { Validator } from '../gauntlet/validator.ts';
import { nodeGpuDevice } from '../gpu/node.ts';
import { GpuRuntime } from '../gpu/runtime.ts';
import { preset } from '../model/config.ts';
import { parameterLayout } from '../model/layout.ts';
import {
  chainDecisions,
  checkVouchedModel,
  committedSubmissions,
  decidedPayloads,
  followDecision,
  initialModelHash,
  ModelReplica,
} from '../run/follow.ts';
import { connectToRun, fetchHubObject } from '../run/hub-client.ts';
import { printer, type CommandSpec, type OptionValues } from './args.ts';
import { AUTHORITY_OPTION, authorityPin } from './authority.ts';

export const command = {
  name: 'validator',
  summary:
    'a Gauntlet validator of its own following the run of the hub at --hub: judges each decided round on this GPU and says whether it agrees',
  options: {
    hub: { kind: 'string', placeholder: 'URL', help: "the hub's http address" },
    authority: AUTHORITY_OPTION,
    rounds: { kind: 'number', placeholder: 'N', help: 'rounds to judge (default: until stopped)' },
    json: { kind: 'boolean', help: 'one JSON object a line' },
  },
  required: ['hub'],
} satisfies CommandSpec;

export async function run(args: OptionValues<typeof command.options>): Promise<void> {
  const hub = args.hub!;
  const print = printer(args.json);
  const authority = authorityPin(args.authority);
  await blake3Ready();
  const { info, chain } = await connectToRun(hub, authority ? { authority } : {});
  let rt: GpuRuntime | undefined;
  let validator: Validator | undefined;
  try {
    // θ to start from, taken only if the chain vouches for it: before any GPU work.
    const config = preset(info.settings.preset);
    const checkpoint = await fetchHubObject(hub, info.checkpoint.objectHash, info.checkpoint.bytes);
    const reached = hashHex(modelFromCheckpoint(parameterLayout(config), checkpoint));
    await checkVouchedModel(chain, info.checkpoint.round, reached, () => initialModelHash(info.settings), "the hub's checkpoint");
    const data = await ensureShards(tokenizerFor(config));
    rt = new GpuRuntime(await nodeGpuDevice());
    const start = info.checkpoint.round;
    // Its standings start empty at the round it joins: it has seen nobody yet.
    validator = await Validator.create(rt, {
      runId: info.runId,
      config,
      trainTokens: data.train.tokens,
      seqLen: info.settings.seqLen,
      secret: randomHex(32),
      state: { round: start, peers: {} },
    });
    const judge = validator;
    const { layout, wire } = validator.context;
    const replica = new ModelReplica(layout, wire, info.runId, modelFromCheckpoint(layout, checkpoint), (hash) =>
      fetchHubObject(hub, hash),
    );
    for await (const { round, decision } of chainDecisions(chain, start, { wait: true, until: start + (args.rounds ?? Infinity) })) {
      const { committed, submissions } = await committedSubmissions(chain, round, (hash, bytes) => fetchHubObject(hub, hash, bytes));
      const { record } = await judge.judge({ round, base: replica.model, submissions });
      const decided = decidedPayloads(decision);
      await followDecision(round, decision, replica);
      print({
        round,
        committed,
        decided: decided.length,
        gathered: record.payloadHashes.length,
        agrees: record.payloadHashes.length === decided.length && record.payloadHashes.every((h, i) => h === decided[i]),
        rejected: record.rejected.map((r) => `${r.peer.slice(0, 8)}…:${r.reason}`),
        top: judge
          .ranking()
          .slice(0, 5)
          .map((s) => ({ hotkey: s.hotkey, final: s.final })),
      });
    }
  } finally {
    chain.close();
    validator?.destroy();
    rt?.destroy();
  }
}
