// A swarm member as `webloco peer` assembles one, in the test's process: its own libp2p node,
// burner session, verifying chain client and engine peer (on a shared GPU runtime), optionally
// one of the adversaries (src/client/adversary.ts).
import { multiaddr } from '@multiformats/multiaddr';
import { HttpChain } from '../../src/chain/http-chain.ts';
import { engineParticipant } from '../../src/client/engine-backend.ts';
import type { CheckpointRef, Participant, ParticipantOptions, ParticipantRound } from '../../src/client/participant.ts';
import type { Behavior } from '../../src/engine/adversary.ts';
import { Peer, type PeerData } from '../../src/engine/peer.ts';
import type { GpuRuntime } from '../../src/gpu/runtime.ts';
import type { Hub } from '../../src/hub/hub.ts';
import { createBurnerSigner } from '../../src/identity/burner.ts';
import { Session } from '../../src/identity/session.ts';
import { preset } from '../../src/model/config.ts';
import { MemoryContentStore } from '../../src/swarm/content.ts';
import { createNodePeer } from '../../src/swarm/node-peer.ts';
import { Swarm } from '../../src/swarm/swarm.ts';

export interface Member {
  participant: Participant;
  swarm: Swarm;
  peer: Peer;
  reports: ParticipantRound[];
  stop(): Promise<void>;
}

export interface RunShape {
  innerSteps: number;
  batch: number;
  seqLen: number;
}

async function checkpointOf(hub: Hub): Promise<CheckpointRef> {
  return ((await (await fetch(`${hub.http}/api/run`)).json()) as { checkpoint: CheckpointRef }).checkpoint;
}

export async function swarmMember(
  rt: GpuRuntime,
  hub: Hub,
  data: PeerData,
  run: RunShape,
  behavior: Behavior = 'honest',
  extra: Pick<ParticipantOptions, 'localCheckpoint'> = {},
): Promise<Member> {
  const info = (await (await fetch(`${hub.http}/api/run`)).json()) as { runId: string; hub: { peerId: string; multiaddrs: string[] } };
  const node = await createNodePeer({ runId: info.runId, webrtc: false, dialPrivateAddresses: true, discoveryIntervalMs: 500 });
  const swarm = new Swarm({
    node,
    runId: info.runId,
    store: new MemoryContentStore(),
    keepConnected: info.hub.multiaddrs.map((a) => multiaddr(a)),
  });
  await swarm.start();
  const chain = await HttpChain.connect(hub.http);
  const session = await Session.start(await createBurnerSigner(), { run: info.runId, peerId: swarm.peerId });
  const peer = await Peer.create(
    rt,
    { config: preset('tiny'), identity: { runId: info.runId, hotkey: session.signed.binding.hotkey }, ...run, rounds: 100, nullRounds: 0 },
    data,
  );
  const participant = engineParticipant({
    swarm,
    chain,
    session,
    engine: peer,
    behavior,
    hubPeerId: info.hub.peerId,
    latestCheckpoint: () => checkpointOf(hub),
    ...extra,
  });
  const reports: ParticipantRound[] = [];
  participant.addEventListener('round', (e) => reports.push(e.detail));
  return {
    participant,
    swarm,
    peer,
    reports,
    async stop() {
      await swarm.stop();
      peer.destroy();
    },
  };
}
