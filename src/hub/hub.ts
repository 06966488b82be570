// `webloco hub`: a long-lived swarm member that browsers reach first. It relays (circuit relay v2,
// sized for a swarm, so browsers can reach each other and set up direct WebRTC links), carries
// gossip and discovery, keeps a copy of every announced object in a content-addressed store on
// disk and serves it over the transfer protocols and HTTP, and serves the built app. Several hubs
// can serve one run: each keeps the others (`bootstrap`) connected.
import { circuitRelayServer, type CircuitRelayService } from '@libp2p/circuit-relay-v2';
import { webSockets } from '@libp2p/websockets';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import type { SignedAnnouncement } from '../identity/announcement.ts';
import { toContentHash } from '../swarm/content.ts';
import { commonNodeOptions, type SwarmServices } from '../swarm/node-config.ts';
import { PAYLOAD_PROTOCOL, assertRunId } from '../swarm/protocol.ts';
import { Swarm, type SwarmOptions } from '../swarm/swarm.ts';
import { createHubHttpServer, type HubRoute } from './http.ts';
import { DiskContentStore } from './object-store.ts';
import { loadOrCreatePeerKey } from './peer-key.ts';

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
  preset?: string;
  /** Circuit-relay reservations this hub grants at once. */
  maxReservations?: number;
  /** Discovery republish interval (ms). */
  discoveryIntervalMs?: number;
  /** More HTTP routes, tried before the hub's own (the dev chain's API, for one). */
  routes?: HubRoute[];
  /** The run's gossip checks (see SwarmOptions.acceptGossip); the hub copies only accepted payloads. */
  acceptGossip?: SwarmOptions['acceptGossip'];
}

export interface RunState {
  round: number;
  /** θ of the current round; null until the first model exists. */
  modelHash: string | null;
}

export interface Hub {
  http: string;
  multiaddrs: string[];
  runId: string;
  preset: string;
  swarm: Swarm;
  store: DiskContentStore;
  /** The round the run is in, as GET /api/run reports it. */
  state: RunState;
  stop(): Promise<void>;
}

/** What each hub keeps about its run, so restarts keep the run id. */
interface RunSettings {
  runId: string;
  preset: string;
}

async function loadRunSettings(dataDir: string, runId: string | undefined, preset: string | undefined): Promise<RunSettings> {
  const path = join(dataDir, 'run.json');
  const stored = await readFile(path, 'utf8').then((text) => JSON.parse(text) as RunSettings, () => undefined);
  if (stored && runId && stored.runId !== runId) {
    throw new Error(`${dataDir} belongs to run '${stored.runId}', not '${runId}': use another --data-dir for a new run`);
  }
  const settings: RunSettings = {
    runId: assertRunId(runId ?? stored?.runId ?? `run-${new Date().toISOString().slice(0, 10)}-${randomBytes(3).toString('hex')}`),
    preset: preset ?? stored?.preset ?? 'tiny',
  };
  await writeFile(path, JSON.stringify(settings, null, 2) + '\n');
  return settings;
}

export async function startHub(options: HubOptions): Promise<Hub> {
  const dataDir = resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true });
  const settings = await loadRunSettings(dataDir, options.runId, options.preset);
  const store = new DiskContentStore(dataDir);
  await store.init();
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
    connectionManager: { maxConnections: 2048 },
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
    acceptGossip: options.acceptGossip,
  });
  await swarm.start();
  const stopCopying = copyAnnouncedPayloads(swarm, store);

  const state: RunState = { round: 0, modelHash: null };
  const server = createHubHttpServer({
    appDir: options.appDir ?? 'dist',
    store,
    routes: options.routes,
    runInfo: () => ({
      runId: settings.runId,
      preset: settings.preset,
      round: state.round,
      modelHash: state.modelHash,
      hub: { peerId: swarm.peerId, multiaddrs: node.getMultiaddrs().map(String) },
      peers: peersOf(swarm),
    }),
  });
  await new Promise<void>((done, fail) => server.once('error', fail).listen(options.port, host, done));
  const { port } = server.address() as AddressInfo;

  return {
    http: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    multiaddrs: node.getMultiaddrs().map(String),
    runId: settings.runId,
    preset: settings.preset,
    swarm,
    store,
    state,
    async stop() {
      stopCopying();
      const closed = new Promise<void>((done) => server.close(() => done()));
      server.closeAllConnections();
      await closed;
      await swarm.stop();
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
        .catch((err) => console.error(`hub: could not copy payload ${hash} from ${from}: ${err instanceof Error ? err.message : String(err)}`))
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
