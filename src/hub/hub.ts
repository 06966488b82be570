// `webloco hub`: a long-lived swarm member that browsers reach first. It composes: a libp2p node
// that relays (circuit relay v2, sized for a swarm, so browsers can reach each other and set up
// direct WebRTC links) and carries gossip and discovery; a content-addressed store on disk
// (object-store.ts), served over the transfer protocols and HTTP (http.ts) with the built app.
// Several hubs can serve one run: each keeps the others (`bootstrap`) connected. The first hub of
// a run also embeds the run's dev chain (src/chain/dev-chain.ts: the round clock, registrations,
// commits and decisions, served under /api/chain/, gossip admitted by admission.ts), keeps a copy
// of every committed payload (payload-copier.ts), decides its rounds (coordinator.ts), publishes
// their records (routes.ts) and lets what it no longer needs expire (retention.ts). A hub needs
// one open port: the app, the API and libp2p's WebSockets share it (shared-port.ts), over HTTPS
// and WSS with a certificate. Behind a TLS-terminating proxy it announces its public URL instead
// of its listen address. It hands members ICE servers with short-lived TURN credentials (ice.ts).
// A hub started with --bootstrap answers members with the first hub's run (first-hub.ts).
import type { CircuitRelayService } from '@libp2p/circuit-relay-v2';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p, type Libp2p } from 'libp2p';
import { isIP, type AddressInfo } from 'node:net';
import { blake3Ready } from '../base/blake3.ts';
import type { ContentHash } from '../base/content-hash.ts';
import { DevChain } from '../chain/dev-chain.ts';
import { chainRoutes } from '../chain/routes.ts';
import { initialModel, modelFromCheckpoint } from '../engine/global-model.ts';
import type { Validator } from '../gauntlet/validator.ts';
import { preset } from '../model/config.ts';
import { parameterLayout, type ParameterLayout } from '../model/layout.ts';
import type { CheckpointRef, HubAddress, RunInfo } from '../run/api.ts';
import { followDecisions, ModelReplica } from '../run/follow.ts';
import type { RunSettings, RunShape } from '../run/settings.ts';
import { wireLayoutOf } from '../sparseloco/codec.ts';
import type { WireLayout } from '../sparseloco/types.ts';
import { commonNodeOptions, type SwarmServices } from '../swarm/node-config.ts';
import { Swarm } from '../swarm/swarm.ts';
import { gossipAdmission } from './admission.ts';
import { RoundCoordinator } from './coordinator.ts';
import { HubDataDir } from './data-dir.ts';
import { FirstHubRun, forwardToFirstHub, httpUrlOf } from './first-hub.ts';
import { hubRequestHandler, startingHubServer, type HttpRateLimits, type HubRoute, type TlsCredentials } from './http.ts';
import { checkIceConfig, iceServers, type IceConfig } from './ice.ts';
import { DiskContentStore } from './object-store.ts';
import { PeerStatuses, peerStatusRoute } from './peer-statuses.ts';
import { copyCommittedPayloads } from './payload-copier.ts';
import { loadOrCreatePeerKey } from './peer-key.ts';
import { roundRoutes } from './routes.ts';
import { relayMeter, type RelayMeter } from './relay-meter.ts';
import { boundedRelay, reservationsPerAddress } from './relay.ts';
import { sharedPortWebSockets } from './shared-port.ts';
import { Wall } from './wall.ts';

export interface HubOptions {
  /** The hub's one port: the app, the API and libp2p's WebSockets; 0 picks a free one. */
  port: number;
  /** Interface to listen on; 127.0.0.1 by default, 0.0.0.0 to serve a network. */
  host?: string;
  /** Serve HTTPS and WSS with this certificate (PEM chain and key) instead of HTTP and WS. */
  tls?: TlsCredentials;
  /**
   * Where members reach this hub (`https://name[:port]`, the origin of a TLS-terminating proxy in
   * front of it): it announces `/dns4/<name>/tcp/<port>/wss` and every URL it hands out is built
   * from it. Without it the hub announces its listen address.
   */
  publicUrl?: string;
  /** STUN/TURN servers and the TURN secret, handed to members in GET /api/run (ice.ts). */
  ice?: IceConfig;
  /** Peer key, run settings and the object store live here. */
  dataDir: string;
  /** The built app; default dist/ in the working directory. */
  appDir?: string;
  /**
   * Other hubs of the run to stay connected to (multiaddrs with /p2p/<id>). The first one whose
   * address gives an HTTP URL (`…/tcp/<port>/ws|wss`) is taken for the run's first hub: this hub
   * takes the run's id and settings from it and forwards its members' API requests there.
   */
  bootstrap?: string[];
  /** Run id; default the one stored in dataDir, else a new one. */
  runId?: string;
  /** Circuit-relay reservations this hub grants at once, in all and per address (relay.ts: 1024, 32). */
  maxReservations?: number;
  maxReservationsPerAddress?: number;
  /** Per-address HTTP rate limits (http.ts: 1000 + 200/s requests, 100 + 20/s POSTs). */
  httpRateLimits?: Partial<HttpRateLimits>;
  /** Discovery republish interval (ms). */
  discoveryIntervalMs?: number;
  /** More HTTP routes, tried before the hub's own. */
  routes?: HubRoute[];
  /**
   * The Gauntlet that decides rounds on the run's first hub (`webloco hub` makes one on the GPU);
   * without it every payload that decodes against H_w is taken.
   */
  gauntlet?: Validator;
  /** The run's settings when it is created (later starts keep the stored ones). */
  run?: Partial<RunShape>;
  /** How long the round keeper waits for committed payloads it does not hold (coordinator.ts: 5 s). */
  payloadDeadlineMs?: number;
  /** Rounds of payloads, records and base checkpoints kept (retention.ts: 100). */
  retainRounds?: number;
}

/** The round being trained and H of its θ, as GET /api/run reports them. */
export interface RunState {
  round: number;
  modelHash: ContentHash;
  checkpoint: CheckpointRef | null;
}

export interface Hub {
  /** Its public URL (`publicUrl`, else the address it listens on). */
  http: string;
  /** The port it listens on: the app, the API and libp2p's WebSockets. */
  port: number;
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

/** θ where the run stands: the newest checkpoint with the chain's decisions since replayed (θ_0 for a new run). */
async function restoreModel(
  dir: HubDataDir,
  settings: RunSettings,
  chain: DevChain,
  store: DiskContentStore,
  layout: ParameterLayout,
  wire: WireLayout,
) {
  const checkpoint = (await dir.checkpoint()) ?? null;
  let model = initialModel(layout, settings.seed);
  if (checkpoint) {
    const bytes = await store.get(checkpoint.objectHash);
    if (!bytes) throw new Error(`${dir.path}/state.json names checkpoint ${checkpoint.objectHash}, which is not in the object store`);
    model = modelFromCheckpoint(layout, bytes);
  }
  const replica = new ModelReplica(layout, wire, settings.runId, model, async (hash, round) => {
    const bytes = await store.get(hash);
    if (!bytes) throw new Error(`round ${round}'s decision lists payload ${hash}, which is not in the object store`);
    return bytes;
  });
  const round = await followDecisions(chain, checkpoint?.round ?? 0, replica);
  return { model: replica.model, round, checkpoint };
}

export async function startHub(options: HubOptions): Promise<Hub> {
  const dir = new HubDataDir(options.dataDir);
  if (options.ice) checkIceConfig(options.ice);
  const publicAddress = options.publicUrl === undefined ? undefined : publicMultiaddr(options.publicUrl);
  // A joining hub's run is the first hub's: its id and settings come from there.
  const firstUrl = options.bootstrap?.map(httpUrlOf).find((u) => u !== undefined);
  const first = firstUrl === undefined ? undefined : await FirstHubRun.reach(firstUrl);
  const firstRun = first && (await first.run());
  if (firstRun && options.runId !== undefined && options.runId !== firstRun.runId)
    throw new Error(`--run-id ${options.runId}, but the first hub at ${firstRun.hub.url} runs '${firstRun.runId}': leave --run-id out`);
  const { runId: _, ...firstShape } = firstRun?.settings ?? { runId: undefined };
  const settings = await dir.runSettings(firstRun?.runId ?? options.runId, firstRun ? firstShape : (options.run ?? {}));
  const store = new DiskContentStore(dir.path);
  await store.init();
  // The run's first hub hosts its chain and decides its rounds; hubs that join it (--bootstrap)
  // relay and carry gossip, and leave the chain (and the payloads it vouches for) to the first.
  const chain = options.bootstrap?.length
    ? null
    : await DevChain.open({
        dataDir: dir.path,
        run: settings.runId,
        blocksPerRound: settings.blocksPerRound,
        blockTimeMs: settings.blockTimeMs,
        bindingWorkBits: settings.bindingWorkBits,
        bindingAgeRounds: settings.bindingAgeRounds,
      });
  try {
    return await startHubWith(options, dir, settings, store, chain, first, publicAddress);
  } catch (err) {
    chain?.close();
    throw err;
  }
}

async function startHubWith(
  options: HubOptions,
  dir: HubDataDir,
  settings: RunSettings,
  store: DiskContentStore,
  chain: DevChain | null,
  first: FirstHubRun | undefined,
  publicAddress: string | undefined,
): Promise<Hub> {
  const config = preset(settings.preset);
  const layout = parameterLayout(config);
  const wire = wireLayoutOf(layout.tensors);
  const host = options.host ?? '127.0.0.1';
  // The port listens first: libp2p's WebSockets listener is driven by its upgrades.
  const starting = startingHubServer(options.tls);
  const { server } = starting;
  await new Promise<void>((done, fail) => server.once('error', fail).listen(options.port, host, done));
  const { port } = server.address() as AddressInfo;
  const secure = options.tls !== undefined;
  const url = options.publicUrl?.replace(/\/$/, '') ?? `${secure ? 'https' : 'http'}://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  try {
    return await startHubOn(
      options,
      { dir, settings, store, chain, first, config, layout, wire },
      { ...starting, host, port, url, publicAddress },
    );
  } catch (err) {
    server.close();
    server.closeAllConnections();
    throw err;
  }
}

interface HubRun {
  dir: HubDataDir;
  settings: RunSettings;
  store: DiskContentStore;
  chain: DevChain | null;
  first: FirstHubRun | undefined;
  config: ReturnType<typeof preset>;
  layout: ParameterLayout;
  wire: WireLayout;
}

interface HubPort {
  server: ReturnType<typeof startingHubServer>['server'];
  serve: ReturnType<typeof startingHubServer>['serve'];
  host: string;
  port: number;
  url: string;
  publicAddress: string | undefined;
}

async function startHubOn(options: HubOptions, run: HubRun, on: HubPort): Promise<Hub> {
  const { dir, settings, store, chain, first, config, layout, wire } = run;
  const { server, host, port, url } = on;
  const secure = options.tls !== undefined;
  const common = commonNodeOptions({
    runId: settings.runId,
    privateKey: await loadOrCreatePeerKey(dir.path),
    dialPrivateAddresses: true,
    discoveryIntervalMs: options.discoveryIntervalMs,
  });
  const relayLimits = { maxReservations: options.maxReservations, maxReservationsPerAddress: options.maxReservationsPerAddress };
  const node: Libp2p<SwarmServices & { relay: CircuitRelayService; relayMeter: RelayMeter }> = await createLibp2p({
    ...common,
    connectionGater: { ...common.connectionGater, ...reservationsPerAddress(relayLimits, () => node) },
    addresses: {
      listen: [`/${isIP(host) === 6 ? 'ip6' : 'ip4'}/${host}/tcp/${port}/${secure ? 'tls/ws' : 'ws'}`],
      // Behind a proxy the listen address reaches nobody: announce only where members reach it.
      ...(on.publicAddress ? { announce: [on.publicAddress] } : {}),
    },
    transports: [sharedPortWebSockets(server, { secure })],
    // libp2p refuses more than 5 new connections a second from one address by default: far too few
    // for a hub that volunteers behind one NAT, or a local swarm, reach at once.
    connectionManager: { maxConnections: 2048, inboundConnectionThreshold: 200 },
    services: {
      ...common.services,
      // Limited relayed connections (128 KiB, 2 min) and reservations per address: relay.ts.
      relay: boundedRelay(relayLimits),
      relayMeter: relayMeter(),
    },
  });
  const swarm = new Swarm({
    node,
    runId: settings.runId,
    store,
    keepConnected: (options.bootstrap ?? []).map((a) => multiaddr(a)),
    acceptGossip: chain ? gossipAdmission(chain) : undefined,
  });
  await swarm.start();
  // Only the hub with the chain copies payloads: it alone can tell a committed one from junk.
  const stopCopying = chain ? copyCommittedPayloads({ swarm, store, chain, wire }) : () => {};

  let coordinator: RoundCoordinator | null = null;
  if (chain) {
    await blake3Ready(); // θ is hashed at every decision: on WASM BLAKE3, not JavaScript
    const restored = await restoreModel(dir, settings, chain, store, layout, wire);
    coordinator = new RoundCoordinator({
      chain,
      swarm,
      store,
      dir,
      config,
      layout,
      wire,
      decisionKey: chain.authority,
      model: restored.model,
      round: restored.round,
      checkpoint: restored.checkpoint,
      checkpointEvery: settings.checkpointEvery,
      gauntlet: options.gauntlet,
      payloadDeadlineMs: options.payloadDeadlineMs,
      retainRounds: options.retainRounds,
    });
    await coordinator.start();
    chain.start();
  }

  const state = (): RunState | null => coordinator?.state ?? null;
  const gauntlet = options.gauntlet;
  // A round's records are saved before its decision reaches the chain: public once it has.
  const decided =
    <T>(read: (round: number) => Promise<T | undefined>) =>
    async (round: number) =>
      chain && (await chain.decision(round)) ? read(round) : undefined;
  const judgedRound = decided((round) => dir.judgedRound(round));
  const statuses = chain && new PeerStatuses({ runId: settings.runId, binding: (id) => chain.binding(id) });
  const wall =
    chain &&
    statuses &&
    new Wall({
      chain,
      preset: settings.preset,
      denseBytes: layout.parameterCount * 4,
      connected: () => [...new Set(swarm.links().map((l) => l.peer))],
      ...(gauntlet ? { judged: judgedRound, ranking: () => gauntlet.ranking() } : {}),
      keptFrom: () => coordinator!.retainedFrom,
      statusOf: (binding) => {
        const status = statuses.of(binding);
        return (
          status && {
            state: status.state,
            reasons: status.reasons,
            intensity: status.intensity,
            pressure: status.pressure,
            gpuRecoveries: status.gpuRecoveries,
            gpuBusy: status.gpuBusy,
            at: status.at,
            stale: status.stale,
          }
        );
      },
    });
  const self = (): HubAddress => ({ peerId: swarm.peerId, multiaddrs: node.getMultiaddrs().map(String), url });
  const own = () => ({
    hub: self(),
    iceServers: options.ice ? iceServers(options.ice) : [],
    peers: peersOf(swarm, node.services.relayMeter),
  });
  const runInfo = async (): Promise<RunInfo> => {
    // A joining hub: where the run stands is the first hub's word (members check it against the chain).
    if (first) {
      const { runId, settings, config, round, modelHash, checkpoint, chain, hub } = await first.run();
      return { runId, settings, config, round, modelHash, checkpoint, chain, firstHub: hub, ...own() };
    }
    return {
      runId: settings.runId,
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
      firstHub: chain ? self() : null,
      ...own(),
    };
  };
  on.serve(
    hubRequestHandler({
      rateLimits: options.httpRateLimits,
      appDir: options.appDir ?? 'dist',
      store,
      routes: [
        ...(first ? [forwardToFirstHub(first.url)] : []),
        ...(chain ? [chainRoutes(chain)] : []),
        ...(statuses ? [peerStatusRoute(statuses)] : []),
        ...(coordinator && wall
          ? [
              roundRoutes({
                round: decided((round) => dir.roundRecord(round)),
                retention: async () => ({
                  retainRounds: coordinator.retainRounds,
                  fromRound: coordinator.retainedFrom,
                  checkpoints: await dir.checkpoints(),
                }),
                wallPeers: (offset, limit) => wall.peersPage(offset, limit),
              }),
            ]
          : []),
        ...(options.routes ?? []),
      ],
      gauntlet: gauntlet && {
        round: judgedRound,
        standings: () => ({ ranking: gauntlet.ranking() }),
      },
      runInfo,
      ...(wall ? { wall: () => wall.view() } : {}),
    }),
  );

  return {
    http: url,
    port,
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
      // The server's close waits for every socket, the WebSockets libp2p holds included: those end with the swarm.
      const closed = new Promise<void>((done) => server.close(() => done()));
      server.closeAllConnections();
      await swarm.stop();
      await closed;
      chain?.close();
    },
  };
}

function peersOf(swarm: Swarm, meter: RelayMeter): RunInfo['peers'] {
  const byPeer = new Map<string, RunInfo['peers'][number]['links']>();
  for (const { peer, kind, remoteAddr, direction } of swarm.links()) {
    byPeer.set(peer, [...(byPeer.get(peer) ?? []), { kind, remoteAddr, direction }]);
  }
  return [...byPeer].map(([peerId, links]) => ({ peerId, links, relayedBytes: meter.bytesFor(peerId) }));
}

/**
 * The address a hub announces for its public URL: `https://name[:port]` → `/dns4/name/tcp/<port>/wss`
 * (`http://` → `/ws`; an IP literal → `/ip4`, `/ip6`). Only an origin: the hub serves at its root.
 */
export function publicMultiaddr(publicUrl: string): string {
  let url: URL;
  try {
    url = new URL(publicUrl);
  } catch {
    throw new Error(
      `--public-url ${JSON.stringify(publicUrl)} is not a URL: write it as https://hub.example.org or https://hub.example.org:8443`,
    );
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.pathname !== '/' || url.search || url.hash || url.username)
    throw new Error(
      `--public-url ${JSON.stringify(publicUrl)} must be an origin, https://name[:port] (no path: the hub serves the app at its root)`,
    );
  const secure = url.protocol === 'https:';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const family = isIP(host) === 4 ? 'ip4' : isIP(host) === 6 ? 'ip6' : 'dns4';
  return `/${family}/${host}/tcp/${url.port || (secure ? 443 : 80)}/${secure ? 'wss' : 'ws'}`;
}
