// `npm run bench:swarm -- --mode load|overhead|utilisation`: the swarm's costs on this machine, on loopback.
//
// `--mode load` (no training): a hub holding the run's θ (preset `base` by default, in a child
// process so its memory is its own) and N Node libp2p peers in this process (64 by default;
// WebSockets to the hub only, no WebRTC), each with a burner session registered on the hub's
// chain (through one chain client shared by the process). `--allow-colocated` exempts 127.0.0.1
// from the hub's gossipsub IP-colocation penalty, which otherwise graylists them all. Every peer announces and commits one real base-sized payload for the same round (a
// seeded random CompressedUpdate over the preset's wire layout, encoded by the codec against the
// hub's H_w, so it decodes and enters the decision). Measured: the time from the round's first
// block until every commit is in a block; the time the hub takes to copy every announced payload
// (it fetches each from its announcer); the decision latency after the round closes (the hub
// decodes every payload, aggregates, steps θ and hashes it); the time for peers to fetch the
// decision's payloads from the hub; the bytes moved; and both processes' memory. The peers have
// no addresses of their own, so everything they fetch comes from the hub. Fetching the whole
// decision on all N peers would push N²·2.3 MB (9.4 GB at 64) through the hub; instead
// `--full-fetchers` peers (4) fetch all of it and then every peer fetches `--fetch-each` (2)
// payloads, all at once.
//
// `--mode overhead`: an in-process hub and `--members` (4) participants as `webloco peer` builds
// them (src/client/participant.ts on src/engine/peer.ts), sharing one GPU runtime. Members take
// the GPU one at a time (a lock around contribute, so one member's step time is not another's
// queue); the wait for the lock and the wait for the round's deadline and decision are idle, not
// overhead. Per member and round: training = the inner steps (each timed by the inner loop, from
// zeroGrad to the loss read back); non-training work = the rest of contribute (θ upload, θ_end
// download, Δ, error feedback + compress, encode) + submit (hash, store, sign, gossip, commit
// until it is in a block) + fetching the decision's payloads + applying it (decode, aggregate,
// outer step, model hash); overhead = non-training / (training + non-training).
//
// `--mode utilisation`: an in-process hub and `--members` (4) `webloco peer` processes, each with
// a software GPU of its own; per member and round the fraction of wall time its GPU trained
// (src/run/utilisation.ts: every wait counts against it), and summaries per member and run.
//
// JSON lines on stdout, tables on stderr. Bounded: every wait has a deadline and the run stops
// itself (`--timeout-s`).
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { blake3 } from '../src/base/blake3.ts';
import { hexToBytes } from '../src/base/hex.ts';
import { multiaddr } from '@multiformats/multiaddr';
import { UsageError, type CommandSpec, type OptionValues } from '../src/cli/args.ts';
import { HttpChain } from '../src/chain/http-chain.ts';
import type { SignedDecision } from '../src/chain/extrinsics.ts';
import type { Block } from '../src/chain/block.ts';
import { startHub, type Hub } from '../src/hub/hub.ts';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { createBurnerSigner } from '../src/identity/burner.ts';
import { peerSigningKey } from '../src/identity/peer-id.ts';
import { Session } from '../src/identity/session.ts';
import { preset, PRESETS, type PresetName } from '../src/model/config.ts';
import { Xoshiro128 } from '../src/model/init.ts';
import { parameterLayout } from '../src/model/layout.ts';
import { chunkGeometry } from '../src/sparseloco/chunking.ts';
import { encodeUpdate, wireLayoutOf } from '../src/sparseloco/codec.ts';
import type { CompressedTensor, CompressedUpdate, TensorSpecs } from '../src/sparseloco/types.ts';
import { MemoryContentStore } from '../src/swarm/content.ts';
import { contentHash, toContentHash } from '../src/base/content-hash.ts';
import { createNodePeer } from '../src/swarm/node-peer.ts';
import { announceTopic, MAX_OBJECT_BYTES, PAYLOAD_PROTOCOL, Status } from '../src/swarm/protocol.ts';
import { Swarm } from '../src/swarm/swarm.ts';
import { TransferError } from '../src/swarm/transfer.ts';
import type { ParticipantRound } from '../src/run/participant.ts';
import { printTable } from './browser.ts';

const MB = 1e6;

function sleep(ms: number): Promise<void> {
  return new Promise((wake) => setTimeout(wake, ms));
}

/** Polls `check` every `everyMs` until it returns a value, or throws after `timeoutMs` saying what it waited for. */
async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs: number, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

interface MemorySample {
  rssMB: number;
  heapUsedMB: number;
  externalMB: number;
  arrayBuffersMB: number;
}

function memoryNow(): MemorySample {
  const m = process.memoryUsage();
  return { rssMB: m.rss / MB, heapUsedMB: m.heapUsed / MB, externalMB: m.external / MB, arrayBuffersMB: m.arrayBuffers / MB };
}

/** Samples this process's memory every 200 ms and keeps the peaks (and the kernel's max RSS). */
class MemoryWatch {
  peak: MemorySample = memoryNow();
  private readonly timer = setInterval(() => this.sample(), 200);

  sample(): MemorySample {
    const now = memoryNow();
    for (const key of Object.keys(now) as (keyof MemorySample)[]) this.peak[key] = Math.max(this.peak[key], now[key]);
    return now;
  }

  report(): { now: MemorySample; peak: MemorySample; maxRssMB: number } {
    // resourceUsage().maxRSS is in kilobytes.
    return { now: this.sample(), peak: { ...this.peak }, maxRssMB: (process.resourceUsage().maxRSS * 1024) / MB };
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/**
 * A valid CompressedUpdate of uniform random selections (k distinct ascending indices per chunk,
 * random 2-bit codes, a lookup table around `magnitude` with +0 for unused bins), seeded: what a
 * peer's compressor hands the codec, with uniform positions (the codec's worst case for size).
 */
function randomUpdate(tensors: TensorSpecs, seed: number, magnitude = 1e-3): CompressedUpdate {
  const bits = new Xoshiro128(blake3(new TextEncoder().encode(`webloco-bench-swarm:${seed}`)));
  const unit = () => bits.nextU32() / 2 ** 32;
  return {
    tensors: tensors.map(({ shape }): CompressedTensor => {
      const { numChunks, chunkSize, k } = chunkGeometry(shape);
      const indices = new Uint16Array(numChunks * k);
      const codes = new Uint8Array(numChunks * k);
      const taken = new Uint8Array(chunkSize);
      for (let c = 0; c < numChunks; c++) {
        const out = indices.subarray(c * k, (c + 1) * k);
        taken.fill(0);
        if (k * 2 > chunkSize) {
          // Dense selections (tiny chunks): the first k of a shuffled range.
          const all = Uint16Array.from({ length: chunkSize }, (_, i) => i);
          for (let i = 0; i < k; i++) {
            const j = i + Math.floor(unit() * (chunkSize - i));
            const t = all[i]!;
            all[i] = all[j]!;
            all[j] = t;
          }
          out.set(all.subarray(0, k));
        } else {
          for (let i = 0; i < k;) {
            const index = Math.floor(unit() * chunkSize);
            if (taken[index]) continue;
            taken[index] = 1;
            out[i++] = index;
          }
        }
        out.sort();
      }
      for (let j = 0; j < codes.length; j++) codes[j] = bits.nextU32() & 3;
      const scale = Math.fround(magnitude * (0.5 + unit()));
      const lookup = Float32Array.from([-1.6, -0.55, 0.55, 1.6], (centre) => scale * (centre + 0.1 * (unit() - 0.5)));
      for (let bin = 0; bin < 4; bin++) if (!codes.includes(bin)) lookup[bin] = 0;
      return { numChunks, chunkSize, k, indices, codes, shift: Math.fround(magnitude * 0.1 * (unit() - 0.5)), scale, lookup };
    }),
  };
}

function tempDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `webloco-bench-swarm-${name}-`));
}

function emptyAppDir(): string {
  const app = tempDir('app');
  writeFileSync(join(app, 'index.html'), '<!doctype html><title>WebLoCo bench</title>');
  return app;
}

function stats(values: number[]): { min: number; median: number; max: number; mean: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    min: sorted[0] ?? NaN,
    median: sorted.length ? (sorted[(sorted.length - 1) >> 1]! + sorted[sorted.length >> 1]!) / 2 : NaN,
    max: sorted.at(-1) ?? NaN,
    mean: sorted.reduce((s, v) => s + v, 0) / sorted.length,
  };
}

export const command = {
  program: 'bench',
  name: 'swarm',
  summary:
    "the swarm's costs on this machine, on loopback: --mode load (a hub and N peers moving real payloads, no training), overhead (members training rounds) or utilisation (members as webloco peer processes: how busy their GPUs are)",
  options: {
    mode: { kind: 'string', placeholder: 'load|overhead|utilisation', help: 'what to measure' },
    preset: { kind: 'string', placeholder: 'NAME', help: 'model preset (load: base, overhead: small)' },
    peers: { kind: 'number', placeholder: '64', help: 'load: Node peers, each committing one payload' },
    'full-fetchers': { kind: 'number', placeholder: '4', help: 'load: peers that fetch the whole decision' },
    'fetch-each': { kind: 'number', placeholder: '2', help: 'load: payloads every peer fetches besides' },
    'allow-colocated': { kind: 'boolean', help: "load: exempt 127.0.0.1 from gossipsub's IP-colocation penalty" },
    'keep-dir': { kind: 'boolean', help: "load: keep the hub's data dir" },
    members: {
      kind: 'number',
      placeholder: '4',
      help: 'overhead: members training in this process; utilisation: `webloco peer` processes',
    },
    rounds: { kind: 'number', placeholder: '1', help: 'overhead, utilisation: rounds each member takes part in (utilisation: 10)' },
    batch: { kind: 'number', placeholder: '2', help: 'overhead: rows per inner step' },
    'seq-len': { kind: 'number', placeholder: '16', help: 'overhead: tokens per row' },
    'inner-steps': { kind: 'number', placeholder: '1', help: 'overhead: H' },
    'blocks-per-round': { kind: 'number', placeholder: 'N', help: 'blocks in a round (load: 40, overhead: 60)' },
    'block-time-ms': { kind: 'number', placeholder: '1000', help: 'time between blocks (ms)' },
    'timeout-s': { kind: 'number', placeholder: 'S', help: 'stop after this long (load: 900, overhead: 1800)' },
    'data-dir': { kind: 'string', placeholder: 'DIR', help: "hub-child (internal): the hub's data dir" },
    'app-dir': { kind: 'string', placeholder: 'DIR', help: "hub-child (internal): the hub's app dir" },
  },
  required: ['mode'],
} satisfies CommandSpec;

type SwarmBenchArgs = OptionValues<typeof command.options>;

export async function run(args: SwarmBenchArgs): Promise<void> {
  if (args.mode === 'hub-child') return hubChild(args);
  if (args.mode === 'load') return load(args);
  if (args.mode === 'overhead') return overhead(args);
  if (args.mode === 'utilisation') return utilisation(args);
  throw new UsageError(`--mode: unknown mode '${args.mode}'; use load, overhead or utilisation`);
}

// ---------------------------------------------------------------------------------------------
// load: the hub in a child process
// ---------------------------------------------------------------------------------------------

/** What the hub child tells the bench: sent over the fork's IPC channel. */
type HubChildMessage =
  | {
      type: 'ready';
      http: string;
      multiaddrs: string[];
      peerId: string;
      runId: string;
      startupMs: number;
      memory: ReturnType<MemoryWatch['report']>;
    }
  | { type: 'report'; round: number; report: HubRoundReport }
  | { type: 'stopped' };

type BenchToHubMessage = { type: 'report'; round: number } | { type: 'stop' };

interface HubRoundReport {
  /** Date.now() when the hub's chain made the round's first block, and the next round's (the round closed). */
  roundStartAt: number | null;
  roundClosedAt: number | null;
  /** When the hub first saw each announcement of the round, and when its copy was in the store. */
  announced: number;
  copied: number;
  firstAnnouncedAt: number | null;
  lastCopiedAt: number | null;
  copiedBytes: number;
  /** When the coordinator submitted its decision (it decoded, aggregated, stepped and hashed), and when it was in a block. */
  decisionSubmittedAt: number | null;
  decisionIncludedAt: number | null;
  decisionPayloads: number | null;
  memory: ReturnType<MemoryWatch['report']>;
}

async function hubChild(args: SwarmBenchArgs): Promise<void> {
  if (!process.send) throw new Error("--mode hub-child runs only as the load bench's child process");
  const send = (message: HubChildMessage) => process.send!(message);
  const memory = new MemoryWatch();
  const started = performance.now();
  const hub = await startHub({
    port: 0,
    dataDir: args['data-dir']!,
    appDir: args['app-dir']!,
    runId: 'bench-swarm-load',
    discoveryIntervalMs: 5_000,
    // checkpointEvery: the bench decides one round; a checkpoint of base is 494 MB written to disk.
    run: {
      preset: args.preset!,
      blocksPerRound: args['blocks-per-round']!,
      blockTimeMs: args['block-time-ms']!,
      checkpointEvery: 1_000_000,
      // The swarm's throughput is measured here, not what identities cost: no proof of work, no waiting.
      bindingWorkBits: 0,
      bindingAgeRounds: 0,
    },
  });
  const startupMs = performance.now() - started;
  // Gossipsub's peer score (P6, IP colocation) charges -5·(n-10)² for n peers on one IP: past
  // about 13 peers on 127.0.0.1 the hub graylists them all and drops their announcements (the
  // coordinator then fetches each committed payload when it decides). --allow-colocated exempts
  // loopback, as if each peer had its own address.
  if (args['allow-colocated'])
    (
      hub.swarm.node.services.pubsub as unknown as { score: { params: { IPColocationFactorWhitelist: Set<string> } } }
    ).score.params.IPColocationFactorWhitelist.add('127.0.0.1');
  const chain = hub.chain!;
  const blocksPerRound = hub.settings.blocksPerRound;
  const roundStarts = new Map<number, number>();
  const decisions = new Map<number, { submittedAt?: number; includedAt?: number; payloads?: number }>();
  const announcements = new Map<string, { round: number; at: number; bytes: number; copiedAt?: number }>();
  chain.onBlock((block: Block) => {
    const at = Date.now();
    if (block.height % blocksPerRound === 0) roundStarts.set(block.height / blocksPerRound, at);
    for (const extrinsic of block.extrinsics as { call?: string; decision?: SignedDecision }[]) {
      if (extrinsic.call !== 'decision' || !extrinsic.decision) continue;
      const { round, payloadHashes } = extrinsic.decision.decision;
      decisions.set(round, { ...decisions.get(round), includedAt: at, payloads: payloadHashes.length });
    }
  });
  // Instrumentation: the coordinator calls decide() once θ_{w+1} and its hash are computed.
  const decide = chain.decide.bind(chain);
  chain.decide = (signed) => {
    const { round } = signed.decision;
    decisions.set(round, { ...decisions.get(round), submittedAt: Date.now() });
    return decide(signed);
  };
  hub.swarm.addEventListener('announcement', (e) => {
    const { payloadHash, round, bytes } = e.detail.message.announcement;
    const hash = toContentHash(payloadHash);
    if (!announcements.has(hash)) announcements.set(hash, { round, at: Date.now(), bytes });
  });
  // The copy is done when the store holds it (copyAnnouncedPayloads in src/hub/hub.ts puts it there).
  const copyWatch = setInterval(() => {
    for (const [hash, a] of announcements) {
      if (a.copiedAt !== undefined) continue;
      void hub.store.has(hash).then((held) => {
        if (held && a.copiedAt === undefined) a.copiedAt = Date.now();
      });
    }
  }, 20);
  send({
    type: 'ready',
    http: hub.http,
    multiaddrs: hub.multiaddrs,
    peerId: hub.swarm.peerId,
    runId: hub.runId,
    startupMs,
    memory: memory.report(),
  });

  process.on('message', (message: BenchToHubMessage) => {
    if (message.type === 'report') {
      const round = message.round;
      const ofRound = [...announcements.values()].filter((a) => a.round === round);
      const copied = ofRound.filter((a) => a.copiedAt !== undefined);
      const decision = decisions.get(round);
      send({
        type: 'report',
        round,
        report: {
          roundStartAt: roundStarts.get(round) ?? null,
          roundClosedAt: roundStarts.get(round + 1) ?? null,
          announced: ofRound.length,
          copied: copied.length,
          firstAnnouncedAt: ofRound.length ? Math.min(...ofRound.map((a) => a.at)) : null,
          lastCopiedAt: copied.length ? Math.max(...copied.map((a) => a.copiedAt!)) : null,
          copiedBytes: copied.reduce((s, a) => s + a.bytes, 0),
          decisionSubmittedAt: decision?.submittedAt ?? null,
          decisionIncludedAt: decision?.includedAt ?? null,
          decisionPayloads: decision?.payloads ?? null,
          memory: memory.report(),
        },
      });
    } else if (message.type === 'stop') {
      clearInterval(copyWatch);
      memory.stop();
      void hub.stop().finally(() => {
        send({ type: 'stopped' });
        process.disconnect();
      });
    }
  });
}

/** Starts the hub child and resolves with its 'ready' message. */
function forkHub(args: string[], timeoutMs: number): Promise<{ child: ChildProcess; ready: Extract<HubChildMessage, { type: 'ready' }> }> {
  const bin = fileURLToPath(new URL('../bin/bench.mjs', import.meta.url));
  const child = fork(bin, ['swarm', '--mode', 'hub-child', ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`the hub child did not start within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the hub child exited (code ${code}) before it was ready; its errors are above`));
    });
    child.once('message', (message: HubChildMessage) => {
      clearTimeout(timer);
      if (message.type === 'ready') resolve({ child, ready: message });
      else reject(new Error(`the hub child sent '${message.type}' before 'ready'`));
    });
  });
}

function askHub(child: ChildProcess, round: number): Promise<HubRoundReport> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the hub child did not answer a report request within 30 s')), 30_000);
    const onMessage = (message: HubChildMessage) => {
      if (message.type !== 'report' || message.round !== round) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(message.report);
    };
    child.on('message', onMessage);
    child.send({ type: 'report', round } satisfies BenchToHubMessage);
  });
}

/**
 * fetch for the peers' chain clients that retries a request whose socket the hub had already
 * closed (undici: "other side closed"). With 64 chain clients in one busy process, a keep-alive
 * socket the hub closed after its 5 s idle timeout is sometimes reused before this process has
 * noticed; the request never reached the hub, so sending it again is safe. Each retry is counted
 * and reported (`httpRetries`).
 */
const httpRetries = { count: 0 };
/** Connections from a peer to the hub that closed during the run (Swarm redials them). */
const hubDisconnects = { count: 0 };
const retryingFetch: typeof fetch = async (input, init) => {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fetch(input, init);
    } catch (err) {
      const code = ((err as { cause?: { code?: string } }).cause ?? {}).code;
      if (attempt >= 3 || !(err instanceof TypeError) || (code !== 'UND_ERR_SOCKET' && code !== 'ECONNRESET')) throw err;
      httpRetries.count++;
    }
  }
};

interface LoadPeer {
  index: number;
  swarm: Swarm;
  chain: HttpChain;
  session: Session;
  payload?: Uint8Array;
  payloadHash?: string;
  committedAt?: number;
  decisionSeenAt?: number;
}

/** Fetches `hash` from the hub; a rate-limited refusal is waited out (1 s) and counted. */
async function fetchFromHub(
  peer: LoadPeer,
  hubPeerId: string,
  hash: string,
  counters: { refusals: number; errors: number; bytes: number; objects: number },
): Promise<void> {
  for (let attempt = 0; attempt < 60; attempt++) {
    try {
      const bytes = await peer.swarm.fetch(PAYLOAD_PROTOCOL, hubPeerId, hash, {
        maxBytes: MAX_OBJECT_BYTES[PAYLOAD_PROTOCOL],
        timeoutMs: 60_000,
      });
      counters.bytes += bytes.byteLength;
      counters.objects++;
      await peer.swarm.store.put(bytes);
      return;
    } catch (err) {
      if (err instanceof TransferError && err.status === Status.rateLimited) counters.refusals++;
      else if (attempt < 30) {
        counters.errors++;
        if (process.env.WEBLOCO_DEBUG) console.error(`peer ${peer.index}: fetching ${hash} failed (${(err as Error).message}); retrying`);
      } else throw err;
      await sleep(1000);
    }
  }
  throw new Error(`peer ${peer.index}: the hub kept refusing ${hash} as rate-limited for a minute`);
}

async function load(args: SwarmBenchArgs): Promise<void> {
  const presetName = (args.preset ?? 'base') as PresetName;
  if (!(presetName in PRESETS)) throw new Error(`--preset: unknown preset '${presetName}'; choose from ${Object.keys(PRESETS).join(', ')}`);
  const peerCount = args.peers ?? 64;
  const blocksPerRound = args['blocks-per-round'] ?? 40;
  const blockTimeMs = args['block-time-ms'] ?? 1000;
  const fullFetchers = Math.min(args['full-fetchers'] ?? 4, peerCount);
  const fetchEach = Math.min(args['fetch-each'] ?? 2, peerCount - 1);
  const timeoutMs = (args['timeout-s'] ?? 900) * 1000;
  const deadline = Date.now() + timeoutMs;
  const left = () => Math.max(1, deadline - Date.now());

  const dataDir = tempDir('hub');
  const appDir = emptyAppDir();
  const memory = new MemoryWatch();
  const peers: LoadPeer[] = [];
  let child: ChildProcess | undefined;
  const killTimer = setTimeout(() => {
    console.error(`bench swarm: --timeout-s ${timeoutMs / 1000} passed; stopping`);
    child?.kill('SIGKILL');
    process.exit(1);
  }, timeoutMs + 60_000);
  try {
    const hubStarted = performance.now();
    const hub = await forkHub(
      [
        '--preset',
        presetName,
        '--blocks-per-round',
        String(blocksPerRound),
        '--block-time-ms',
        String(blockTimeMs),
        '--data-dir',
        dataDir,
        '--app-dir',
        appDir,
        ...(args['allow-colocated'] ? ['--allow-colocated'] : []),
      ],
      left(),
    );
    child = hub.child;
    const { ready } = hub;
    console.log(
      JSON.stringify({
        kind: 'hub-started',
        preset: presetName,
        startupMs: ready.startupMs,
        forkToReadyMs: performance.now() - hubStarted,
        memory: ready.memory,
      }),
    );

    // One seeded update per peer (uniform positions: the codec's worst case for size), made
    // before the peers exist: seconds of work that would otherwise stall their connections.
    const config = preset(presetName);
    const layout = parameterLayout(config);
    const wire = wireLayoutOf(layout.tensors);
    const generateStarted = performance.now();
    const updates = Array.from({ length: peerCount }, (_, i) => randomUpdate(layout.tensors, i));
    const generateMs = performance.now() - generateStarted;

    // The peers, as `webloco peer` assembles them minus the engine: libp2p node, swarm, chain
    // client, burner session. libp2p's connection manager refuses more than 5 new inbound
    // connections a second from one host (inboundConnectionThreshold), and every peer here is
    // 127.0.0.1, so they connect 4 at a time, each group once the previous one is in and a second on.
    const setupStarted = performance.now();
    // One chain client for all the peers of this process: a browser tab verifies every block
    // itself, but 64 verifiers in one process would verify each block's sr25519 signatures 64
    // times on one core, stalling the event loop for seconds (libp2p's connection monitor then
    // aborts the peers' connections when its pings go unanswered) - a cost of this bench's
    // layout, not of the swarm.
    const chain = await HttpChain.connect(ready.http, { fetch: retryingFetch });
    for (let i = 0; i < peerCount; i += 4) {
      const groupStarted = Date.now();
      const group = await Promise.all(
        Array.from({ length: Math.min(4, peerCount - i) }, async (_, j) => {
          const peerKey = await generateKeyPair('Ed25519');
          const node = await createNodePeer({ runId: ready.runId, privateKey: peerKey, webrtc: false, dialPrivateAddresses: true });
          const swarm = new Swarm({
            node,
            runId: ready.runId,
            store: new MemoryContentStore(),
            keepConnected: ready.multiaddrs.map((a) => multiaddr(a)),
          });
          node.addEventListener('connection:close', (e) => {
            if (e.detail.remotePeer.toString() !== ready.peerId) return;
            hubDisconnects.count++;
            if (process.env.WEBLOCO_DEBUG)
              console.error(
                `peer ${i + j}: connection to the hub closed after ${Math.round(performance.now() - setupStarted)} ms (${e.detail.direction}, ${e.detail.status})`,
              );
          });
          await swarm.start();
          await until(
            `peer ${i + j} to connect to the hub`,
            () =>
              swarm.node.getConnections().some((c) => c.remotePeer.toString() === ready.peerId && c.status === 'open') ? true : undefined,
            Math.min(60_000, left()),
            50,
          );
          const session = await Session.start(await createBurnerSigner(), {
            run: ready.runId,
            peer: peerSigningKey(peerKey),
            workBits: chain.bindingRules.workBits,
          });
          return { index: i + j, swarm, chain, session } satisfies LoadPeer;
        }),
      );
      peers.push(...group);
      await sleep(Math.max(0, 1100 - (Date.now() - groupStarted)));
    }
    const nodesReadyMs = performance.now() - setupStarted;
    await Promise.all(peers.map((p) => p.chain.register(p.session.signed)));
    const registeredMs = performance.now() - setupStarted;
    // Gossip reaches the hub once it knows each peer subscribes to the announce topic.
    const topic = announceTopic(ready.runId);
    const seesHub = (p: LoadPeer) => p.swarm.node.services.pubsub.getSubscribers(topic).some((id) => id.toString() === ready.peerId);
    const connected = (p: LoadPeer) =>
      p.swarm.node.getConnections().some((c) => c.remotePeer.toString() === ready.peerId && c.status === 'open');
    await until(
      'every peer to see the hub subscribed to the announce topic',
      () => (peers.every(seesHub) ? true : undefined),
      Math.min(60_000, left()),
      200,
    ).catch((err: Error) => {
      throw new Error(
        `${err.message}: ${peers.filter(seesHub).length} of ${peerCount} do, ${peers.filter(connected).length} are connected to the hub`,
      );
    });
    const setupMs = performance.now() - setupStarted;
    console.log(
      JSON.stringify({
        kind: 'peers-ready',
        peers: peerCount,
        setupMs,
        nodesMs: nodesReadyMs,
        registeredMs: registeredMs - nodesReadyMs,
        httpRetries: httpRetries.count,
        hubDisconnects: hubDisconnects.count,
        memory: memory.report(),
      }),
    );

    // The round to commit in: the next one that starts far enough ahead to encode every payload.
    const run = (await (await retryingFetch(`${ready.http}/api/run`)).json()) as { round: number; modelHash: string };
    const head = await peers[0]!.chain.head();
    const clock = peers[0]!.chain.clock;
    const round = clock.roundAt(head.height) + (clock.lastBlock(clock.roundAt(head.height)) - head.height > 5 ? 1 : 2);
    const encodeStarted = performance.now();
    for (const [i, p] of peers.entries()) {
      p.payload = encodeUpdate({ runId: ready.runId, round, baseModelHash: hexToBytes(run.modelHash) }, updates[i]!, wire);
      p.payloadHash = contentHash(p.payload);
      await new Promise((next) => setImmediate(next)); // let the peers' connections breathe between payloads
    }
    const encodeMs = performance.now() - encodeStarted;
    updates.length = 0;
    const payloadBytes = peers.map((p) => p.payload!.byteLength);
    console.log(
      JSON.stringify({
        kind: 'payloads',
        preset: presetName,
        parameters: layout.parameterCount,
        round,
        payloadBytes: stats(payloadBytes),
        totalBytes: payloadBytes.reduce((s, b) => s + b, 0),
        generateMs,
        encodeMs,
      }),
    );

    // Round `round`: every peer keeps its payload, announces it and commits it, all at once.
    await until(
      `round ${round} to begin`,
      async () => (clock.roundAt((await peers[0]!.chain.head()).height) >= round ? true : undefined),
      left(),
      50,
    );
    const commitStarted = Date.now();
    await Promise.all(
      peers.map(async (p) => {
        await p.swarm.store.put(p.payload!);
        const signed = p.session.announce({
          round,
          baseModelHash: `0x${run.modelHash}`,
          payloadHash: `0x${p.payloadHash!}`,
          bytes: p.payload!.byteLength,
        });
        await p.swarm.announce(signed).catch(() => 0); // no gossip peer yet: the commit still stands
        await p.chain.commit(signed);
        p.committedAt = Date.now();
      }),
    );
    const allCommittedAt = Math.max(...peers.map((p) => p.committedAt!));
    // The hub's copies: until it holds every payload or the round closes (the coordinator then fetches what is missing).
    const gathered = await until(
      'the hub to copy every payload or the round to close',
      async () => {
        const r = await askHub(child!, round);
        return r.copied >= peerCount || r.roundClosedAt !== null ? r : undefined;
      },
      left(),
      100,
    );
    // Every peer waits for the decision as a participant does: polling the chain client every half block.
    await Promise.all(
      peers.map(async (p) => {
        await until(
          `peer ${p.index} to see round ${round}'s decision`,
          async () => ((await p.chain.decision(round)) ? true : undefined),
          left(),
          blockTimeMs / 2,
        );
        p.decisionSeenAt = Date.now();
      }),
    );
    const decided = await askHub(child, round);
    const decision = (await peers[0]!.chain.decision(round))!;
    const hashes = decision.decision.payloadHashes.map((h) => toContentHash(h));
    const roundStartAt = decided.roundStartAt ?? commitStarted;
    const roundReport = {
      kind: 'load-round',
      preset: presetName,
      allowColocated: args['allow-colocated'] ?? false,
      peers: peerCount,
      round,
      roundMs: blocksPerRound * blockTimeMs,
      commitsInMs: allCommittedAt - roundStartAt,
      commitMs: stats(peers.map((p) => p.committedAt! - roundStartAt)),
      hubDisconnectsSoFar: hubDisconnects.count,
      hubAnnouncementsSeen: gathered.announced,
      hubCopied: gathered.copied,
      hubCopiedMB: gathered.copiedBytes / MB,
      hubGatherMs: gathered.lastCopiedAt !== null ? gathered.lastCopiedAt - roundStartAt : null,
      hubGatherFromFirstAnnouncementMs:
        gathered.lastCopiedAt !== null && gathered.firstAnnouncedAt !== null ? gathered.lastCopiedAt - gathered.firstAnnouncedAt : null,
      hubGatherMBPerS:
        gathered.lastCopiedAt !== null && gathered.firstAnnouncedAt !== null
          ? gathered.copiedBytes / MB / ((gathered.lastCopiedAt - gathered.firstAnnouncedAt) / 1000)
          : null,
      decisionPayloads: hashes.length,
      decisionComputedAfterCloseMs:
        decided.decisionSubmittedAt !== null && decided.roundClosedAt !== null ? decided.decisionSubmittedAt - decided.roundClosedAt : null,
      decisionInBlockAfterCloseMs:
        decided.decisionIncludedAt !== null && decided.roundClosedAt !== null ? decided.decisionIncludedAt - decided.roundClosedAt : null,
      decisionSeenByPeersAfterCloseMs:
        decided.roundClosedAt !== null ? stats(peers.map((p) => p.decisionSeenAt! - decided.roundClosedAt!)) : null,
      hubMemory: decided.memory,
    };
    console.log(JSON.stringify(roundReport));

    // Fetching the decision from the hub: first every peer fetches `fetchEach` others' payloads,
    // all at once; then `fullFetchers` peers fetch the rest of the decision (one payload at a time
    // each, as a participant does), all at once.
    const few = { refusals: 0, errors: 0, bytes: 0, objects: 0 };
    const fewStarted = performance.now();
    const fewMs = await Promise.all(
      peers.map(async (p) => {
        const t = performance.now();
        for (let j = 1; j <= fetchEach; j++) {
          const hash = peers[(p.index + j) % peerCount]!.payloadHash!;
          if (!(await p.swarm.store.has(hash))) await fetchFromHub(p, ready.peerId, hash, few);
        }
        return performance.now() - t;
      }),
    );
    const fewWallMs = performance.now() - fewStarted;
    const afterFew = await askHub(child, round);
    console.log(
      JSON.stringify({
        kind: 'load-fetch-few',
        fetchers: peerCount,
        payloadsEach: fetchEach,
        objects: few.objects,
        bytes: few.bytes,
        wallMs: fewWallMs,
        perFetcherMs: stats(fewMs),
        MBPerS: few.bytes / MB / (fewWallMs / 1000),
        rateLimitedRefusals: few.refusals,
        failedAndRetried: few.errors,
        hubDisconnectsSoFar: hubDisconnects.count,
        hubMemory: afterFew.memory,
        benchMemory: memory.report(),
      }),
    );

    const full = { refusals: 0, errors: 0, bytes: 0, objects: 0 };
    const fullStarted = performance.now();
    const fullMs = await Promise.all(
      peers.slice(0, fullFetchers).map(async (p) => {
        const t = performance.now();
        for (const hash of hashes) if (!(await p.swarm.store.has(hash))) await fetchFromHub(p, ready.peerId, hash, full);
        return performance.now() - t;
      }),
    );
    const fullWallMs = performance.now() - fullStarted;
    const afterFull = await askHub(child, round);
    console.log(
      JSON.stringify({
        kind: 'load-fetch-full',
        fetchers: fullFetchers,
        objects: full.objects,
        bytes: full.bytes,
        wallMs: fullWallMs,
        perFetcherMs: stats(fullMs),
        MBPerS: full.bytes / MB / (fullWallMs / 1000),
        rateLimitedRefusals: full.refusals,
        failedAndRetried: full.errors,
        hubDisconnectsSoFar: hubDisconnects.count,
        hubMemory: afterFull.memory,
        benchMemory: memory.report(),
      }),
    );

    const uploaded = payloadBytes.reduce((s, b) => s + b, 0);
    const decidedBytes = peers.filter((p) => hashes.includes(p.payloadHash!)).reduce((s, p) => s + p.payload!.byteLength, 0);
    const summary = {
      kind: 'load-summary',
      preset: presetName,
      allowColocated: args['allow-colocated'] ?? false,
      peers: peerCount,
      payloadMB: stats(payloadBytes).mean / MB,
      // Into the hub: every payload of the decision, copied on announcement or fetched by the coordinator when it decided.
      bytesMovedMB: (decidedBytes + full.bytes + few.bytes) / MB,
      bytesIntoHubMB: decidedBytes / MB,
      bytesOutOfHubMB: (full.bytes + few.bytes) / MB,
      announcedMB: uploaded / MB,
      hubPeakRssMB: afterFull.memory.maxRssMB,
      httpRetries: httpRetries.count,
      hubDisconnects: hubDisconnects.count,
      benchPeakRssMB: memory.report().maxRssMB,
    };
    console.log(JSON.stringify(summary));
    printTable([
      {
        peers: peerCount,
        'payload MB': summary.payloadMB,
        'commits in ms': roundReport.commitsInMs,
        'hub gather ms': roundReport.hubGatherMs ?? NaN,
        'gather MB/s': roundReport.hubGatherMBPerS ?? NaN,
        'decided after close ms': roundReport.decisionComputedAfterCloseMs ?? NaN,
        'in block ms': roundReport.decisionInBlockAfterCloseMs ?? NaN,
        [`${peerCount}×${fetchEach} fetch ms`]: fewWallMs,
        [`${fullFetchers}×rest fetch ms`]: fullWallMs,
        'moved MB': summary.bytesMovedMB,
        'hub peak RSS MB': summary.hubPeakRssMB,
        'bench peak RSS MB': summary.benchPeakRssMB,
      },
    ]);
  } finally {
    clearTimeout(killTimer);
    await Promise.all(peers.map((p) => p.swarm.stop().catch(() => undefined))); // stopping anyway: a node that failed to stop is gone with the process
    peers[0]?.chain.close();
    if (child && child.exitCode === null) {
      const exited = new Promise((done) => child!.once('exit', done));
      child.send({ type: 'stop' } satisfies BenchToHubMessage);
      await Promise.race([exited, sleep(30_000).then(() => child!.kill('SIGKILL'))]);
    }
    memory.stop();
    if (!args['keep-dir']) rmSync(dataDir, { recursive: true, force: true });
    rmSync(appDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// overhead: a hub and participants training on one shared GPU runtime
// ---------------------------------------------------------------------------------------------

interface MemberRound {
  member: number;
  round: number;
  /** Waiting for the shared GPU (another member trains): idle. */
  gpuQueueMs: number;
  /** The inner steps, summed (each from zeroGrad to its loss read back). */
  trainingMs: number;
  /** contribute() minus training: θ upload, θ_end download, Δ, error feedback + compress, encode. */
  contributeOtherMs: number;
  /** Hash, store, sign, gossip, then the chain commit until it is in a block (commitMs of it). */
  submitMs: number;
  commitMs: number;
  /** Deadline + hub's decision + polling: idle. */
  waitMs: number;
  /** Fetching the decision's payloads (others' only: its own is in its store). */
  fetchMs: number;
  /** Decode, aggregate, outer step, model hash (synchronous, on the CPU). */
  applyMs: number;
  roundWallMs: number;
  nonTrainingMs: number;
  overhead: number;
  included: boolean;
  decisionSize: number;
  note?: string;
}

/** The run the training modes' hub serves, from the options and the mode's defaults. */
function trainingRun(args: SwarmBenchArgs, defaults: { preset: PresetName; innerSteps: number }) {
  const preset = (args.preset ?? defaults.preset) as PresetName;
  if (!(preset in PRESETS)) throw new Error(`--preset: unknown preset '${preset}'; choose from ${Object.keys(PRESETS).join(', ')}`);
  return {
    preset,
    batch: args.batch ?? 2,
    seqLen: args['seq-len'] ?? 16,
    innerSteps: args['inner-steps'] ?? defaults.innerSteps,
    blocksPerRound: args['blocks-per-round'] ?? 60,
    blockTimeMs: args['block-time-ms'] ?? 1000,
    checkpointEvery: 1,
  };
}

async function overhead(args: SwarmBenchArgs): Promise<void> {
  const memberCount = args.members ?? 4;
  // Rounds each member takes part in (from the one it joins in, which began before it was ready).
  const rounds = args.rounds ?? 1;
  // Members that start with the run (nullRounds 0): a binding age would only hold them back.
  const runSettings = { ...trainingRun(args, { preset: 'small', innerSteps: 1 }), bindingAgeRounds: 0 };
  const presetName = runSettings.preset;
  const timeoutMs = (args['timeout-s'] ?? 1800) * 1000;
  const killTimer = setTimeout(() => {
    console.error(`bench swarm: --timeout-s ${timeoutMs / 1000} passed; stopping`);
    process.exit(1);
  }, timeoutMs);

  const [{ nodeGpuDevice }, { GpuRuntime }, { ensureShards }, { tokenizerFor }, { createHeadlessMember }] = await Promise.all([
    import('../src/gpu/node.ts'),
    import('../src/gpu/runtime.ts'),
    import('../src/data/node.ts'),
    import('../src/engine/policy.ts'),
    import('../src/run/member.ts'),
  ]);
  const rt = new GpuRuntime(await nodeGpuDevice());
  console.log(JSON.stringify({ kind: 'adapter', ...rt.gpu.adapter, features: undefined, limits: undefined }));
  const config = preset(presetName);
  const shards = await ensureShards(tokenizerFor(config));
  const data = { train: shards.train.tokens, heldOut: shards.heldout.tokens };
  const dataDir = tempDir('hub');
  const appDir = emptyAppDir();
  mkdirSync(appDir, { recursive: true });
  let hub: Hub | undefined;
  const stops: (() => Promise<void>)[] = [];
  const memory = new MemoryWatch();
  try {
    hub = await startHub({ port: 0, dataDir, appDir, runId: 'bench-swarm-overhead', discoveryIntervalMs: 2_000, run: runSettings });
    let gpu: Promise<void> = Promise.resolve();
    const records: MemberRound[] = [];
    const participants = await Promise.all(
      Array.from({ length: memberCount }, async (_, member) => {
        // This member's current round, filled in as its phases pass.
        let current: Partial<MemberRound> & { phaseAt: Record<string, number> } = { phaseAt: {} };
        const joined = await createHeadlessMember({
          hubUrl: hub!.http,
          rt,
          data,
          nullRounds: 0,
          discoveryIntervalMs: 2_000,
          // A software GPU's step holds this process's event loop for most of a minute, long past the
          // hub's 5 s keep-alive: the chain client must retry a request on a socket the hub closed.
          fetch: retryingFetch,
          wrapBackend: (backend, engine) => ({
            ...backend,
            contribute: async (round) => {
              // Members take the one GPU in turn.
              const queued = performance.now();
              const previous = gpu;
              let release!: () => void;
              gpu = new Promise((done) => (release = done));
              await previous;
              const started = performance.now();
              current.gpuQueueMs = started - queued;
              try {
                const r = await engine.contribute(round);
                current.trainingMs = r.trainingMs;
                current.contributeOtherMs = performance.now() - started - r.trainingMs;
                return { payload: r.contribution?.payload ?? null, cancelled: r.cancelled, skipped: r.skipped, trainingMs: r.trainingMs };
              } finally {
                release();
              }
            },
            applyDecision: async (round, payloads) => {
              const t = performance.now();
              const hash = await backend.applyDecision(round, payloads);
              current.applyMs = (current.applyMs ?? 0) + performance.now() - t;
              return hash;
            },
          }),
        });
        stops.push(() => joined.stop());
        const { participant, chain } = joined;
        const commit = chain.commit.bind(chain);
        chain.commit = async (signed) => {
          const t = performance.now();
          try {
            return await commit(signed);
          } finally {
            current.commitMs = performance.now() - t;
          }
        };
        participant.addEventListener('status', (e) => {
          const { phase } = e.detail;
          current.phaseAt[phase] ??= performance.now();
        });
        participant.addEventListener('round', (e) => {
          const r = e.detail;
          const end = performance.now();
          const at = current.phaseAt;
          const trainingMs = current.trainingMs ?? 0;
          const contributeOtherMs = current.contributeOtherMs ?? 0;
          const submitMs = at.submitting !== undefined && at.waiting !== undefined ? at.waiting - at.submitting : 0;
          const applyMs = current.applyMs ?? 0;
          const fetchMs = at.applying !== undefined ? end - at.applying - applyMs : 0;
          const nonTrainingMs = contributeOtherMs + submitMs + fetchMs + applyMs;
          const record: MemberRound = {
            member,
            round: r.round,
            gpuQueueMs: current.gpuQueueMs ?? 0,
            trainingMs,
            contributeOtherMs,
            submitMs,
            commitMs: current.commitMs ?? 0,
            waitMs: at.waiting !== undefined && at.applying !== undefined ? at.applying - at.waiting : 0,
            fetchMs,
            applyMs,
            roundWallMs: end - (at.training ?? at.waiting ?? end),
            nonTrainingMs,
            overhead: trainingMs + nonTrainingMs > 0 ? nonTrainingMs / (trainingMs + nonTrainingMs) : NaN,
            included: r.included,
            decisionSize: r.decisionSize,
            ...(r.note ? { note: r.note } : {}),
          };
          records.push(record);
          console.log(JSON.stringify({ kind: 'overhead-member-round', preset: presetName, ...record }));
          current = { phaseAt: {} };
        });
        return participant;
      }),
    );
    console.log(JSON.stringify({ kind: 'members-ready', members: memberCount, run: runSettings, memory: memory.report() }));
    await Promise.all(participants.map((p) => p.join()));
    await Promise.all(participants.map((p) => p.run(rounds)));
    // Member-rounds in which the member trained (the round it joined in may have had too little time left).
    const measured = records.filter((r) => r.trainingMs > 0);
    const table = measured.map((r) => ({
      round: r.round,
      member: r.member,
      'train ms': r.trainingMs,
      'contrib other ms': r.contributeOtherMs,
      'submit ms': r.submitMs,
      'commit ms': r.commitMs,
      'fetch ms': r.fetchMs,
      'apply ms': r.applyMs,
      'overhead %': r.overhead * 100,
      'gpu queue ms': r.gpuQueueMs,
      'wait ms': r.waitMs,
      'round wall ms': r.roundWallMs,
      included: String(r.included),
    }));
    const sum = (key: keyof MemberRound) => measured.reduce((s, r) => s + (r[key] as number), 0);
    const training = sum('trainingMs');
    const nonTraining = sum('nonTrainingMs');
    console.log(
      JSON.stringify({
        kind: 'overhead-summary',
        preset: presetName,
        members: memberCount,
        measuredMemberRounds: measured.length,
        run: runSettings,
        overhead: nonTraining / (training + nonTraining),
        overheadPerMemberRound: stats(measured.map((r) => r.overhead)),
        meanMs: Object.fromEntries(
          (
            [
              'trainingMs',
              'contributeOtherMs',
              'submitMs',
              'commitMs',
              'fetchMs',
              'applyMs',
              'gpuQueueMs',
              'waitMs',
              'roundWallMs',
            ] as const
          ).map((k) => [k, sum(k) / measured.length]),
        ),
        allIncluded: measured.every((r) => r.included),
        httpRetries: httpRetries.count,
        memory: memory.report(),
      }),
    );
    printTable(table);
  } finally {
    clearTimeout(killTimer);
    for (const stop of stops) await stop().catch(() => undefined); // as above: the process ends
    await hub?.stop();
    memory.stop();
    rt.destroy();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(appDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// utilisation: a hub and members, each a `webloco peer` process with a GPU of its own
// ---------------------------------------------------------------------------------------------

/** One member's round as its `webloco peer --json` line reports it. */
type PeerLine = ParticipantRound & { member: number };

/**
 * GPU utilisation as Covenant-72B and INTELLECT-1 report theirs (src/run/utilisation.ts): each
 * member the way a volunteer runs it, a `webloco peer` process with a software GPU of its own (they
 * share the machine's cores, which slows them but leaves none idle), reporting per round the time
 * its GPU trained and the round's wall time, from the end of the round before. Summaries per
 * member and for the run: over every round since its join, and over its rounds with a payload
 * (after its null rounds). Also: every payload included, every member at the same model hashes.
 */
async function utilisation(args: SwarmBenchArgs): Promise<void> {
  const memberCount = args.members ?? 4;
  const rounds = args.rounds ?? 10;
  const runSettings = trainingRun(args, { preset: 'tiny', innerSteps: 8 });
  const presetName = runSettings.preset;
  const timeoutMs = (args['timeout-s'] ?? 3600) * 1000;
  const webloco = fileURLToPath(new URL('../bin/webloco.mjs', import.meta.url));
  const dataDir = tempDir('hub');
  const appDir = emptyAppDir();
  const children: ChildProcess[] = [];
  let hub: Hub | undefined;
  const killTimer = setTimeout(() => {
    console.error(`bench swarm: --timeout-s ${timeoutMs / 1000} passed; stopping`);
    for (const child of children) child.kill('SIGKILL');
    process.exit(1);
  }, timeoutMs);
  try {
    hub = await startHub({ port: 0, dataDir, appDir, runId: 'bench-swarm-utilisation', discoveryIntervalMs: 2_000, run: runSettings });
    const lines: PeerLine[] = [];
    const exits = Array.from({ length: memberCount }, (_, member) => {
      const child = spawn(process.execPath, [webloco, 'peer', '--hub', hub!.http, '--rounds', String(rounds), '--json'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.push(child);
      let buffered = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        buffered += chunk;
        for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
          const text = buffered.slice(0, end);
          buffered = buffered.slice(end + 1);
          if (!text.startsWith('{')) continue;
          const line = { ...(JSON.parse(text) as ParticipantRound), member };
          lines.push(line);
          const { round, gpu, included, payloadHash, modelHash, note } = line;
          console.log(
            JSON.stringify({
              kind: 'utilisation-member-round',
              member,
              round,
              trainingMs: gpu.round.trainingMs,
              wallMs: gpu.round.wallMs,
              utilisation: gpu.round.fraction,
              committed: payloadHash !== null,
              included,
              modelHash,
              ...(note ? { note } : {}),
            }),
          );
        }
      });
      return new Promise<void>((resolve, reject) =>
        child.on('exit', (code, signal) =>
          code === 0 ? resolve() : reject(new Error(`member ${member}: webloco peer exited with ${code ?? signal}`)),
        ),
      );
    });
    await Promise.all(exits);

    const over = (rows: PeerLine[]) => {
      const trainingMs = rows.reduce((sum, r) => sum + r.gpu.round.trainingMs, 0);
      const wallMs = rows.reduce((sum, r) => sum + r.gpu.round.wallMs, 0);
      return { rounds: rows.length, trainingMs, wallMs, utilisation: wallMs > 0 ? trainingMs / wallMs : NaN };
    };
    const perMember = Array.from({ length: memberCount }, (_, member) => {
      const mine = lines.filter((l) => l.member === member);
      return { member, sinceJoin: over(mine), withPayload: over(mine.filter((l) => l.payloadHash !== null)) };
    });
    const hashesByRound = new Map<number, Set<string>>();
    for (const l of lines) hashesByRound.set(l.round, (hashesByRound.get(l.round) ?? new Set()).add(l.modelHash));
    const committed = lines.filter((l) => l.payloadHash !== null);
    console.log(
      JSON.stringify({
        kind: 'utilisation-summary',
        preset: presetName,
        members: memberCount,
        run: runSettings,
        sinceJoin: over(lines),
        withPayload: over(committed),
        perMember,
        allIncluded: committed.every((l) => l.included),
        modelHashesIdentical: [...hashesByRound.values()].every((set) => set.size === 1),
      }),
    );
    printTable(
      lines
        .sort((a, b) => a.round - b.round || a.member - b.member)
        .map((l) => ({
          round: l.round,
          member: l.member,
          'train ms': l.gpu.round.trainingMs,
          'wall ms': l.gpu.round.wallMs,
          'utilisation %': l.gpu.round.fraction * 100,
          committed: String(l.payloadHash !== null),
          included: String(l.included),
        })),
    );
  } finally {
    clearTimeout(killTimer);
    for (const child of children) child.kill('SIGKILL');
    await hub?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(appDir, { recursive: true, force: true });
  }
}
