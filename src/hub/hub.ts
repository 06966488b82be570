// `webloco hub`: a long-lived swarm member that browsers reach first. It relays (circuit relay v2,
// sized for a swarm, so browsers can reach each other and set up direct WebRTC links), carries
// gossip and discovery, keeps a copy of every announced object in a content-addressed store on
// disk and serves it over the transfer protocols and HTTP, and serves the built app. Several hubs
// can serve one run: each keeps the others (`bootstrap`) connected. The first hub of a run also
// embeds the run's dev chain (src/chain/dev-chain.ts: the round clock, registrations, commits and
// decisions, served under /api/chain/) and decides its rounds (coordinator.ts).
import { circuitRelayServer, type CircuitRelayService } from '@libp2p/circuit-relay-v2';
import { DevChain } from '../chain/dev-chain.ts';
import { chainRoutes } from '../chain/routes.ts';
import { applyDecision, hashHex, initialModel, modelFromCheckpoint } from '../engine/global-model.ts';
import { ReplayGuard, verifyAnnouncement } from '../identity/announcement.ts';
import type { Validator } from '../gauntlet/validator.ts';
import type { VerifiedBinding } from '../identity/binding.ts';
import { preset } from '../model/config.ts';
import { blake3Ready } from '../base/blake3.ts';
import { parameterLayout, type ParameterLayout } from '../model/layout.ts';
import { wireLayoutOf } from '../sparseloco/codec.ts';
import type { WireLayout } from '../sparseloco/types.ts';
import { webSockets } from '@libp2p/websockets';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import type { SignedAnnouncement } from '../identity/announcement.ts';
import { toContentHash } from '../base/content-hash.ts';
import { commonNodeOptions, type SwarmServices } from '../swarm/node-config.ts';
import { PAYLOAD_PROTOCOL, assertRunId } from '../swarm/protocol.ts';
import { Swarm, type SwarmOptions } from '../swarm/swarm.ts';
import { RoundCoordinator, type CheckpointRef, type JudgedRoundRecord } from './coordinator.ts';
import { createHubHttpServer, type HubRoute } from './http.ts';
import { DiskContentStore } from './object-store.ts';
import { loadOrCreatePeerKey } from './peer-key.ts';
import { Wall } from './wall.ts';

export interface HubOptions {
  /** HTTP port (app + API); 0 picks a free one. */
  port: number;
  /** libp2p WebSockets port; default port + 1 (a free one when port is 0). */
  p2pPort?: number;
  /** Interface to listen on; 127.0.0.1 by default, 0.0.0.0 to serve a network. */
  host?: string;
  /** Peer key, run settings and the object store live here. */
  dataDir: string;
  /** The built app; default dist/ in the working directory. */
  appDir?: string;
  /** Other hubs of the run to stay connected to (multiaddrs with /p2p/<id>). */
  bootstrap?: string[];
  /** Run id; default the one stored in dataDir, else a new one. */
  runId?: string;
  /** Circuit-relay reservations this hub grants at once. */
  maxReservations?: number;
  /** Discovery republish interval (ms). */
  discoveryIntervalMs?: number;
  /** More HTTP routes, tried before the hub's own (the dev chain's API, for one). */
  routes?: HubRoute[];
  /**
   * The Gauntlet that decides rounds on the run's first hub (`webloco hub` makes one on the GPU);
   * without it every payload that decodes against H_w is taken.
   */
  gauntlet?: Validator;
  /** The run's settings when it is created (later starts keep the stored ones). */
  run?: Partial<Omit<RunSettings, 'runId'>>;
}

/** The round being trained and H of its θ, as GET /api/run reports them. */
export interface RunState {
  round: number;
  modelHash: string;
  checkpoint: CheckpointRef | null;
}

export interface Hub {
  http: string;
  multiaddrs: string[];
  runId: string;
  settings: RunSettings;
  swarm: Swarm;
  store: DiskContentStore;
  /** The run's chain and round keeper: on the run's first hub only (null on hubs started with bootstrap). */
  chain: DevChain | null;
  coordinator: RoundCoordinator | null;
  /** The run's state as GET /api/run reports it (null without the chain). */
  state(): RunState | null;
  stop(): Promise<void>;
}

/**
 * What a run is, fixed when it starts and kept in dataDir/run.json: the model, how peers train a
 * round, the chain's clock and how often θ is checkpointed. Peers read it from GET /api/run.
 */
export interface RunSettings {
  runId: string;
  preset: string;
  /** Seed of θ_0. */
  seed: number;
  /** Rows per inner step and tokens per row, H inner steps a round, rounds in the run (the schedule's length). */
  batch: number;
  seqLen: number;
  innerSteps: number;
  rounds: number;
  blocksPerRound: number;
  blockTimeMs: number;
  /** θ is written as a checkpoint after every this many rounds. */
  checkpointEvery: number;
}

/** Defaults for a tiny-preset run on a software GPU: 10 inner steps of 4×64 tokens in a 30 s round. */
export const DEFAULT_RUN: Omit<RunSettings, 'runId'> = {
  preset: 'tiny',
  seed: 0,
  batch: 4,
  seqLen: 64,
  innerSteps: 10,
  rounds: 1000,
  blocksPerRound: 30,
  blockTimeMs: 1000,
  checkpointEvery: 1,
};

/** The run's settings in `dataDir` (run.json), created from `asked` and the defaults for a new run. */
export async function runSettings(
  dataDir: string,
  runId: string | undefined,
  asked: Partial<Omit<RunSettings, 'runId'>>,
): Promise<RunSettings> {
  await mkdir(resolve(dataDir), { recursive: true });
  return loadRunSettings(resolve(dataDir), runId, asked);
}

async function loadRunSettings(
  dataDir: string,
  runId: string | undefined,
  asked: Partial<Omit<RunSettings, 'runId'>>,
): Promise<RunSettings> {
  const path = join(dataDir, 'run.json');
  const stored = await readFile(path, 'utf8').then(
    (text) => JSON.parse(text) as RunSettings,
    () => undefined,
  );
  if (stored && runId && stored.runId !== runId) {
    throw new Error(`${dataDir} belongs to run '${stored.runId}', not '${runId}': use another --data-dir for a new run`);
  }
  const settings: RunSettings = {
    ...DEFAULT_RUN,
    ...asked,
    ...stored,
    runId: assertRunId(runId ?? stored?.runId ?? `run-${new Date().toISOString().slice(0, 10)}-${randomBytes(3).toString('hex')}`),
  };
  preset(settings.preset); // an unknown preset fails here, before anything starts
  for (const key of ['batch', 'seqLen', 'innerSteps', 'rounds', 'blocksPerRound', 'blockTimeMs', 'checkpointEvery'] as const) {
    if (!Number.isSafeInteger(settings[key]) || settings[key] < 1)
      throw new Error(`run setting ${key} must be a positive integer, got ${settings[key]}`);
  }
  await writeFile(`${path}.tmp`, JSON.stringify(settings, null, 2) + '\n');
  await rename(`${path}.tmp`, path);
  return settings;
}

/** θ where the run stands: the newest checkpoint with the chain's decisions since replayed (θ_0 for a new run). */
async function restoreModel(
  dataDir: string,
  settings: RunSettings,
  chain: DevChain,
  store: DiskContentStore,
  layout: ParameterLayout,
  wire: WireLayout,
) {
  const saved = await readFile(join(dataDir, 'state.json'), 'utf8').then(
    (text) => JSON.parse(text) as { checkpoint: CheckpointRef },
    () => undefined,
  );
  let checkpoint: CheckpointRef | null = null;
  let model = initialModel(layout, settings.seed);
  let round = 0;
  if (saved) {
    const bytes = await store.get(saved.checkpoint.objectHash);
    if (!bytes) throw new Error(`${dataDir}/state.json names checkpoint ${saved.checkpoint.objectHash}, which is not in the object store`);
    model = modelFromCheckpoint(layout, bytes);
    checkpoint = saved.checkpoint;
    round = checkpoint.round;
  }
  for (let decision = await chain.decision(round); decision; decision = await chain.decision(++round)) {
    const payloads: Uint8Array[] = [];
    for (const hash of decision.decision.payloadHashes) {
      const bytes = await store.get(toContentHash(hash));
      if (!bytes) throw new Error(`round ${round}'s decision lists payload ${hash}, which is not in the object store`);
      payloads.push(bytes);
    }
    model = applyDecision(layout, wire, model, { runId: settings.runId, round }, payloads);
    if (`0x${hashHex(model)}` !== decision.decision.modelHash)
      throw new Error(`replaying round ${round} gave model ${hashHex(model)}, the chain's decision says ${decision.decision.modelHash}`);
  }
  return { model, round, checkpoint };
}

export async function startHub(options: HubOptions): Promise<Hub> {
  const dataDir = resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true });
  const settings = await loadRunSettings(dataDir, options.runId, options.run ?? {});
  const store = new DiskContentStore(dataDir);
  await store.init();
  // The run's first hub hosts its chain and decides its rounds; hubs that join it (--bootstrap)
  // relay, carry gossip and keep objects, and leave the chain to the first.
  const chain = options.bootstrap?.length
    ? null
    : await DevChain.open({ dataDir, run: settings.runId, blocksPerRound: settings.blocksPerRound, blockTimeMs: settings.blockTimeMs });
  try {
    return await startHubWith(options, dataDir, settings, store, chain);
  } catch (err) {
    chain?.close();
    throw err;
  }
}

async function startHubWith(
  options: HubOptions,
  dataDir: string,
  settings: RunSettings,
  store: DiskContentStore,
  chain: DevChain | null,
): Promise<Hub> {
  const config = preset(settings.preset);
  const layout = parameterLayout(config);
  const wire = wireLayoutOf(layout.tensors);
  const host = options.host ?? '127.0.0.1';
  const p2pPort = options.p2pPort ?? (options.port === 0 ? 0 : options.port + 1);
  const common = commonNodeOptions({
    runId: settings.runId,
    privateKey: await loadOrCreatePeerKey(dataDir),
    dialPrivateAddresses: true,
    discoveryIntervalMs: options.discoveryIntervalMs,
  });
  const node = await createLibp2p<SwarmServices & { relay: CircuitRelayService }>({
    ...common,
    addresses: { listen: [`/ip4/${host}/tcp/${p2pPort}/ws`] },
    transports: [webSockets()],
    // libp2p refuses more than 5 new connections a second from one address by default: far too few
    // for a hub that volunteers behind one NAT, or a local swarm, reach at once.
    connectionManager: { maxConnections: 2048, inboundConnectionThreshold: 200 },
    services: {
      ...common.services,
      // No default data/duration limit: the relay then also carries traffic between peers that
      // cannot link directly; where they can, it only carries WebRTC signalling.
      relay: circuitRelayServer({ reservations: { maxReservations: options.maxReservations ?? 1024, applyDefaultLimit: false } }),
    },
  });
  const swarm = new Swarm({
    node,
    runId: settings.runId,
    store,
    keepConnected: (options.bootstrap ?? []).map((a) => multiaddr(a)),
    acceptGossip: chain ? runGossipChecks(chain) : undefined,
  });
  await swarm.start();
  const stopCopying = copyAnnouncedPayloads(swarm, store);

  let coordinator: RoundCoordinator | null = null;
  if (chain) {
    await blake3Ready(); // θ is hashed at every decision: on WASM BLAKE3, not JavaScript
    const restored = await restoreModel(dataDir, settings, chain, store, layout, wire);
    coordinator = new RoundCoordinator({
      chain,
      swarm,
      store,
      config,
      layout,
      wire,
      decisionKey: chain.authority,
      model: restored.model,
      round: restored.round,
      checkpoint: restored.checkpoint,
      checkpointEvery: settings.checkpointEvery,
      gauntlet: options.gauntlet,
      onDecided: async ({ round, checkpoint, judged }) => {
        // The Gauntlet's judgement of the round, public so that anyone can audit it.
        if (judged) await writeJsonAtomically(join(dataDir, 'gauntlet', `${round}.json`), judged);
        if (checkpoint) await writeJsonAtomically(join(dataDir, 'state.json'), { checkpoint });
      },
    });
    await coordinator.start();
    chain.start();
  }

  const state = (): RunState | null => coordinator?.state ?? null;
  const judgedRound = (round: number) =>
    readFile(join(dataDir, 'gauntlet', `${round}.json`), 'utf8').then(
      (text) => JSON.parse(text) as JudgedRoundRecord,
      () => undefined,
    );
  const wall =
    chain &&
    new Wall({
      chain,
      preset: settings.preset,
      denseBytes: layout.parameterCount * 4,
      connected: () => [...new Set(swarm.links().map((l) => l.peer))],
      ...(options.gauntlet ? { judged: judgedRound, ranking: () => options.gauntlet!.ranking() } : {}),
    });
  const server = createHubHttpServer({
    appDir: options.appDir ?? 'dist',
    store,
    routes: [...(chain ? [chainRoutes(chain)] : []), ...(options.routes ?? [])],
    gauntlet: options.gauntlet && {
      round: judgedRound,
      standings: () => ({ ranking: options.gauntlet!.ranking() }),
    },
    runInfo: () => ({
      runId: settings.runId,
      preset: settings.preset,
      settings,
      config,
      // The round being trained, H of its θ and the newest checkpoint (null on a hub without the chain).
      ...(state() ?? { round: null, modelHash: null, checkpoint: null }),
      chain: chain && {
        authority: chain.authority.address,
        blocksPerRound: settings.blocksPerRound,
        blockTimeMs: settings.blockTimeMs,
        height: chain.headBlock().height,
      },
      hub: { peerId: swarm.peerId, multiaddrs: node.getMultiaddrs().map(String) },
      peers: peersOf(swarm),
    }),
    ...(wall ? { wall: () => wall.view() } : {}),
  });
  await new Promise<void>((done, fail) => server.once('error', fail).listen(options.port, host, done));
  const { port } = server.address() as AddressInfo;

  return {
    http: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    multiaddrs: node.getMultiaddrs().map(String),
    runId: settings.runId,
    settings,
    swarm,
    store,
    chain,
    coordinator,
    state,
    async stop() {
      stopCopying();
      await coordinator?.stop();
      const closed = new Promise<void>((done) => server.close(() => done()));
      server.closeAllConnections();
      await closed;
      await swarm.stop();
      chain?.close();
    },
  };
}

/**
 * The hub's checks on gossip: an announcement must be signed by the session key of a binding
 * registered on chain, for the round the chain is in (or the one just closed, for messages in
 * flight at the boundary), and not replayed; a decision must come from a validator of the run.
 */
function runGossipChecks(chain: DevChain): NonNullable<SwarmOptions['acceptGossip']> {
  const replay = new ReplayGuard();
  return {
    announcement: async (signed) => {
      const current = chain.clock.roundAt(chain.headBlock().height);
      const bindings = new Map<string, VerifiedBinding | undefined>([
        [signed.announcement.binding, await chain.binding(signed.announcement.binding)],
      ]);
      verifyAnnouncement(signed, {
        run: chain.run,
        acceptRound: (r) => r === current || r === current - 1,
        bindingOf: (id) => bindings.get(id),
        now: Date.now(),
        replay,
      });
    },
    decision: async (signed) => {
      if (!chain.spec.validators.includes(signed.decision.validator))
        throw new Error(`${signed.decision.validator} is not a validator of run ${chain.run}`);
    },
  };
}

function peersOf(swarm: Swarm): { peerId: string; links: { kind: string; remoteAddr: string; direction: string }[] }[] {
  const byPeer = new Map<string, { kind: string; remoteAddr: string; direction: string }[]>();
  for (const { peer, kind, remoteAddr, direction } of swarm.links()) {
    byPeer.set(peer, [...(byPeer.get(peer) ?? []), { kind, remoteAddr, direction }]);
  }
  return [...byPeer].map(([peerId, links]) => ({ peerId, links }));
}

/**
 * Keeps a copy of every announced payload: fetches it from the announcer (at most two at a time,
 * no more than the announced size) so it stays available after the announcer leaves.
 */
function copyAnnouncedPayloads(swarm: Swarm, store: DiskContentStore): () => void {
  const queue: { from: string; hash: string; bytes: number }[] = [];
  const queued = new Set<string>();
  let active = 0;
  const pump = (): void => {
    while (active < 2 && queue.length > 0) {
      const { from, hash, bytes } = queue.shift()!;
      active++;
      swarm
        .fetch(PAYLOAD_PROTOCOL, from, hash, { maxBytes: bytes })
        .then((payload) => store.put(payload))
        .catch((err) =>
          console.error(`hub: could not copy payload ${hash} from ${from}: ${err instanceof Error ? err.message : String(err)}`),
        )
        .finally(() => {
          active--;
          queued.delete(hash);
          pump();
        });
    }
  };
  const onAnnouncement = (event: CustomEvent<{ from: string; message: SignedAnnouncement }>): void => {
    const { from, message } = event.detail;
    const hash = toContentHash(message.announcement.payloadHash);
    if (queued.has(hash) || queue.length >= 256) return;
    queued.add(hash);
    void store.has(hash).then((held) => {
      if (held) queued.delete(hash);
      else {
        queue.push({ from, hash, bytes: message.announcement.bytes });
        pump();
      }
    });
  };
  swarm.addEventListener('announcement', onAnnouncement);
  return () => swarm.removeEventListener('announcement', onAnnouncement);
}

async function writeJsonAtomically(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(`${path}.tmp`, JSON.stringify(value, null, 2) + '\n');
  await rename(`${path}.tmp`, path);
}
