// A headless member of a run, assembled one way for `webloco peer`, the benchmarks and the tests:
// the hub's run (GET /api/run) and its verifying chain client (pinned to the authority given, which
// a hub serving another chain cannot pass), a libp2p node kept connected to the hub, a burner
// session co-signed by the node's key with the chain's proof of work paid, an engine peer on a
// GPU runtime (src/engine/peer.ts)
// and the Participant that runs its rounds. Its RoundBackend is the engine's contribution, or an
// adversary's (adversary.ts) for the behaviours the Gauntlet must keep out. Node only (it reads
// the token shards from disk); a tab assembles the browser variant in src/client/swarm-client.ts.
import { generateKeyPair } from '@libp2p/crypto/keys';
import { multiaddr } from '@multiformats/multiaddr';
import type { HttpChain } from '../chain/http-chain.ts';
import { ensureShards } from '../data/node.ts';
import type { Behavior } from '../engine/adversary.ts';
import { Peer, type PeerData } from '../engine/peer.ts';
import { tokenizerFor } from '../engine/policy.ts';
import type { GpuRuntime } from '../gpu/runtime.ts';
import { createBurnerSigner } from '../identity/burner.ts';
import { peerSigningKey } from '../identity/peer-id.ts';
import { Session } from '../identity/session.ts';
import { preset } from '../model/config.ts';
import { DEFAULT_NULL_ROUNDS } from '../sparseloco/error-feedback.ts';
import { MemoryContentStore } from '../swarm/content.ts';
import { createNodePeer } from '../swarm/node-peer.ts';
import { Swarm } from '../swarm/swarm.ts';
import { decodeCheckpoint } from '../train/checkpoint.ts';
import { Adversary, forgedAnnouncement } from './adversary.ts';
import type { ChainedRunInfo } from './api.ts';
import { initialModelHash } from './follow.ts';
import { connectToRun, freshIceServers, PeerStatusReporter, requireRunInfo, type AuthorityPin } from './hub-client.ts';
import { Participant, type ParticipantOptions, type ParticipantRound, type RoundBackend } from './participant.ts';

export interface HeadlessMemberOptions {
  hubUrl: string;
  /** The run's authority, pinned: a hub that serves another chain is refused (without it, the hub's word is taken). */
  authority?: AuthorityPin;
  rt: GpuRuntime;
  /** Refuse a run that trains another preset (before any GPU work). */
  preset?: string;
  /** Token splits; default this machine's shards for the run's tokenizer. */
  data?: PeerData;
  /** An adversary the Gauntlet must keep out instead of an honest member ('honest'). */
  behavior?: Behavior;
  /** Take part in direct WebRTC links (false: WebSockets to the hub only). */
  webrtc?: boolean;
  discoveryIntervalMs?: number;
  /** Null rounds after joining (DEFAULT_NULL_ROUNDS, or the chain's binding age if longer; 0 for a member that starts with the run). */
  nullRounds?: number;
  /** The chain client's fetch (a retrying one, when training stalls this process's event loop). */
  fetch?: typeof fetch;
  localCheckpoint?: ParticipantOptions['localCheckpoint'];
  /** Wraps the engine's backend (a benchmark times each phase of a round). */
  wrapBackend?: (backend: RoundBackend, engine: Peer) => RoundBackend;
}

export interface HeadlessMember {
  info: ChainedRunInfo;
  participant: Participant;
  swarm: Swarm;
  chain: HttpChain;
  session: Session;
  engine: Peer;
  /** Every round this member finished, in order. */
  reports: ParticipantRound[];
  /** Stops the node and the chain client and frees the engine's GPU buffers (not the runtime). */
  stop(): Promise<void>;
}

/** The engine peer as a participant's backend, honest or transformed by an adversary. */
function engineBackend(engine: Peer, adversary: Adversary | null = null): RoundBackend {
  return {
    async load(files) {
      engine.setGlobalModel(decodeCheckpoint(files).params);
      return engine.modelHash;
    },
    async contribute(round) {
      if (adversary) return adversary.contribute(round);
      const result = await engine.contribute(round);
      return {
        payload: result.contribution?.payload ?? null,
        cancelled: result.cancelled,
        skipped: result.skipped,
        trainingMs: result.trainingMs,
      };
    },
    async applyDecision(round, payloads) {
      return engine.applyDecision(round, payloads);
    },
  };
}

/** Joins the run of the hub at `hubUrl` as a new member (not yet registered: call `participant.join()`). */
export async function createHeadlessMember(o: HeadlessMemberOptions): Promise<HeadlessMember> {
  // The run and its chain first: a hub that does not serve the pinned run costs nothing more.
  const { info, chain } = await connectToRun(o.hubUrl, {
    ...(o.authority ? { authority: o.authority } : {}),
    ...(o.fetch ? { fetch: o.fetch } : {}),
  });
  if (o.preset !== undefined && o.preset !== info.settings.preset) {
    chain.close();
    throw new Error(`the run at ${o.hubUrl} trains preset '${info.settings.preset}', not '${o.preset}'`);
  }
  const config = preset(info.settings.preset);
  // Its own key, not libp2p's default, so that the session's binding can be signed with it.
  const peerKey = await generateKeyPair('Ed25519');
  const node = await createNodePeer({
    runId: info.runId,
    privateKey: peerKey,
    dialPrivateAddresses: true,
    webrtc: o.webrtc ?? false,
    discoveryIntervalMs: o.discoveryIntervalMs,
    iceServers: freshIceServers(o.hubUrl, info.iceServers),
  });
  // The hub it joined through and the run's first hub, which copies every committed payload from its committer.
  const hubs = info.firstHub.peerId === info.hub.peerId ? [info.hub] : [info.hub, info.firstHub];
  const swarm = new Swarm({
    node,
    runId: info.runId,
    store: new MemoryContentStore(),
    keepConnected: hubs.flatMap((hub) => hub.multiaddrs.map((a) => multiaddr(a))),
    directLinks: o.webrtc ?? false,
  });
  let engine: Peer | undefined;
  try {
    await swarm.start();
    const session = await Session.start(await createBurnerSigner(), {
      run: info.runId,
      peer: peerSigningKey(peerKey),
      workBits: chain.bindingRules.workBits,
    });
    const data = o.data ?? (await localData(tokenizerFor(config)));
    engine = await Peer.create(
      o.rt,
      {
        config,
        identity: { runId: info.runId, hotkey: session.signed.binding.hotkey },
        batch: info.settings.batch,
        seqLen: info.settings.seqLen,
        innerSteps: info.settings.innerSteps,
        rounds: info.settings.rounds,
        // Null rounds count from the first round it contributes to (none if that is the run's first),
        // at least as many as the chain's binding age: no payload is made that the chain would refuse.
        nullRounds: o.nullRounds ?? Math.max(DEFAULT_NULL_ROUNDS, chain.bindingRules.ageRounds),
      },
      data,
    );
    const behavior = o.behavior ?? 'honest';
    const adversary = behavior === 'honest' ? null : new Adversary(behavior, engine, swarm, info.firstHub.peerId);
    const honestBackend = engineBackend(engine, adversary);
    const joined = chain;
    const participant = new Participant({
      swarm,
      chain,
      session,
      backend: o.wrapBackend ? o.wrapBackend(honestBackend, engine) : honestBackend,
      hubPeerId: info.firstHub.peerId,
      latestCheckpoint: async () => (await requireRunInfo(o.hubUrl)).checkpoint,
      initialModelHash: () => initialModelHash(info.settings),
      ...(o.localCheckpoint ? { localCheckpoint: o.localCheckpoint } : {}),
      ...(behavior === 'forged' ? { announce: (fields) => forgedAnnouncement(joined, session, fields) } : {}),
    });
    const reports: ParticipantRound[] = [];
    // It tells the hub after every round that it trains, and how busy its GPU was (the wall shows it).
    const status = new PeerStatusReporter(o.hubUrl, info.runId, session);
    status.follow(participant);
    participant.addEventListener('round', (e) => reports.push(e.detail));
    const built = engine;
    return {
      info,
      participant,
      swarm,
      chain,
      session,
      engine,
      reports,
      async stop() {
        await status.sent();
        joined.close();
        await swarm.stop();
        built.destroy();
      },
    };
  } catch (err) {
    chain.close();
    engine?.destroy();
    await swarm.stop();
    throw err;
  }
}

async function localData(tokenizer: ReturnType<typeof tokenizerFor>): Promise<PeerData> {
  const shards = await ensureShards(tokenizer);
  return { train: shards.train.tokens, heldOut: shards.heldout.tokens };
}
