// `webloco peer --hub URL`: a headless participant on the same engine as a browser tab. It reads
// the run from the hub (GET /api/run), joins its libp2p swarm (WebSockets to the hub, WebRTC to
// other peers through the hub's relay), starts a session with a burner hotkey, registers it on
// the run's chain, loads the newest checkpoint and replays the decisions since, then takes part in
// N rounds, printing one line per round:
//   {"round","modelHash","bytesUp","bytesDown","peers","direct",...}
// and exits 0. `--behavior` makes it one of the adversaries the Gauntlet must keep out
// (src/engine/adversary.ts): nan, scaled, signflip, noise, copycat, stale, forged, oversized, lazy.
import { multiaddr } from '@multiformats/multiaddr';
import { HttpChain } from '../chain/http-chain.ts';
import { requireRunInfo } from '../client/hub-api.ts';
import { engineParticipant } from '../client/engine-backend.ts';
import { ensureShards } from '../data/node.ts';
import { BEHAVIORS, parseBehaviors } from '../engine/adversary.ts';
import { Peer } from '../engine/peer.ts';
import { tokenizerFor } from '../engine/policy.ts';
import { nodeGpuDevice } from '../gpu/node.ts';
import { GpuRuntime } from '../gpu/runtime.ts';
import { createBurnerSigner } from '../identity/burner.ts';
import { Session } from '../identity/session.ts';
import { preset } from '../model/config.ts';
import { DEFAULT_NULL_ROUNDS } from '../sparseloco/error-feedback.ts';
import { MemoryContentStore } from '../swarm/content.ts';
import { createNodePeer } from '../swarm/node-peer.ts';
import { Swarm } from '../swarm/swarm.ts';
import { onOff, parseArgs, printer } from './args.ts';

export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv, {
    hub: 'string',
    rounds: 'number',
    preset: 'string',
    behavior: 'string',
    webrtc: 'boolean',
    f16: 'string',
    json: 'boolean',
  });
  if (!args.hub)
    throw new Error(
      `usage: webloco peer --hub http://HOST:PORT [--rounds N] [--preset tiny] [--behavior ${BEHAVIORS.join('|')}] [--webrtc] [--f16 on|off] [--json]`,
    );
  const [behavior = 'honest'] = parseBehaviors(args.behavior ?? 'honest');
  const print = printer(args.json);
  const info = await requireRunInfo(args.hub);
  if (args.preset && args.preset !== info.settings.preset)
    throw new Error(`the run at ${args.hub} trains preset '${info.settings.preset}', not '${args.preset}'`);
  const config = preset(info.settings.preset);
  const rounds = args.rounds ?? 1;

  const node = await createNodePeer({ runId: info.runId, dialPrivateAddresses: true, webrtc: args.webrtc ?? false });
  const swarm = new Swarm({
    node,
    runId: info.runId,
    store: new MemoryContentStore(),
    keepConnected: info.hub.multiaddrs.map((a) => multiaddr(a)),
    directLinks: args.webrtc ?? false,
  });
  const rt = new GpuRuntime(await nodeGpuDevice(), { f16: onOff('--f16', args.f16) });
  let peer: Peer | undefined;
  try {
    await swarm.start();
    const chain = await HttpChain.connect(args.hub);
    const session = await Session.start(await createBurnerSigner(), { run: info.runId, peerId: swarm.peerId });
    const data = await ensureShards(tokenizerFor(config));
    const engine = await Peer.create(
      rt,
      {
        config,
        identity: { runId: info.runId, hotkey: session.signed.binding.hotkey },
        batch: info.settings.batch,
        seqLen: info.settings.seqLen,
        innerSteps: info.settings.innerSteps,
        rounds: info.settings.rounds,
        // Null rounds count from the first round it contributes to (none if that is the run's first).
        nullRounds: DEFAULT_NULL_ROUNDS,
      },
      { train: data.train.tokens, heldOut: data.heldout.tokens },
    );
    peer = engine;
    const participant = engineParticipant({
      swarm,
      chain,
      session,
      engine,
      behavior,
      hubPeerId: info.hub.peerId,
      latestCheckpoint: async () => (await requireRunInfo(args.hub!)).checkpoint,
    });
    participant.addEventListener('round', (e) => print({ ...e.detail }));
    await participant.join();
    await participant.run(rounds);
  } finally {
    peer?.destroy();
    rt.destroy();
    await swarm.stop();
  }
}
