// `webloco hub`: starts a hub (relay, gossip, object store, the app and the HTTP API; src/hub).
// Its first line on stdout is one JSON object {"http", "multiaddrs", "runId"} for scripts and
// tests; human-readable lines follow. SIGINT / SIGTERM stop it cleanly.
import { readFile } from 'node:fs/promises';
import { errorMessage } from '../base/errors.ts';
import { ensureShards } from '../data/node.ts';
import { tokenizerFor } from '../engine/policy.ts';
import type { GauntletConfig } from '../gauntlet/config.ts';
import { Validator } from '../gauntlet/validator.ts';
import { nodeGpuDevice } from '../gpu/node.ts';
import { GpuRuntime } from '../gpu/runtime.ts';
import { DEFAULT_PAYLOAD_DEADLINE_MS } from '../hub/coordinator.ts';
import { HubDataDir } from '../hub/data-dir.ts';
import { startHub, type Hub, type HubOptions } from '../hub/hub.ts';
import { readTurnSecret } from '../hub/ice.ts';
import { DEFAULT_RETAIN_ROUNDS } from '../hub/retention.ts';
import { preset } from '../model/config.ts';
import { runSettingOptions, runSettingsFrom, UsageError, type CommandSpec, type OptionValues } from './args.ts';

export const command = {
  name: 'hub',
  summary:
    'a hub for a run: relay, gossip, object store, the app and GET /api/run; the first hub of a run hosts its chain and decides its rounds',
  options: {
    port: { kind: 'number', default: 8080, help: "the hub's one port: the app, the API and libp2p's WebSockets; 0 picks a free one" },
    host: { kind: 'string', default: '127.0.0.1', help: 'interface to listen on (0.0.0.0 to serve a network)' },
    'tls-cert': { kind: 'string', placeholder: 'FILE', help: 'serve HTTPS and WSS with this certificate chain (PEM); needs --tls-key' },
    'tls-key': { kind: 'string', placeholder: 'FILE', help: "the certificate's private key (PEM)" },
    'public-url': {
      kind: 'string',
      placeholder: 'URL',
      help: 'where members reach this hub, https://name[:port] (e.g. a TLS proxy in front of it): announced as /dns4/name/tcp/port/wss',
    },
    stun: { kind: 'string', placeholder: 'URL[,URL…]', help: "STUN servers for members' WebRTC links, e.g. stun:turn.example.org:3478" },
    turn: {
      kind: 'string',
      placeholder: 'URL[,URL…]',
      help: 'TURN servers (coturn with use-auth-secret), e.g. turn:turn.example.org:3478?transport=udp; needs --turn-secret-file',
    },
    'turn-secret-file': {
      kind: 'string',
      placeholder: 'FILE',
      help: "the TURN server's static-auth-secret (mode 0600): the hub mints short-lived TURN credentials from it",
    },
    'data-dir': { kind: 'string', default: '.webloco/hub', help: "the run's settings, chain, objects and keys" },
    'app-dir': { kind: 'string', default: 'dist', help: 'the built app (vite build)' },
    bootstrap: {
      kind: 'string',
      placeholder: 'ADDR[,ADDR…]',
      help: 'another hub of the run to join (its multiaddr): this hub then relays and carries gossip, the first decides',
    },
    'run-id': { kind: 'string', placeholder: 'ID', help: "the run's id (default: the data dir's, else a new one)" },
    ...runSettingOptions(),
    'take-all': { kind: 'boolean', help: 'take every payload that decodes instead of letting the Gauntlet decide' },
    'retain-rounds': {
      kind: 'number',
      default: DEFAULT_RETAIN_ROUNDS,
      help: 'rounds of payloads and records kept for joining, resyncing and audits (older ones expire)',
    },
    'payload-deadline-ms': {
      kind: 'number',
      default: DEFAULT_PAYLOAD_DEADLINE_MS,
      help: 'how long a closed round waits for committed payloads this hub does not hold',
    },
  },
  details: [
    'A new run takes its settings from these options (defaults above); a data dir that holds a run',
    'keeps the settings it was created with. The first hub of a run hosts its chain and decides its',
    "rounds with the Gauntlet (on this machine's GPU; --take-all instead takes every payload that",
    'decodes); hubs started with --bootstrap relay and carry gossip. The Gauntlet keeps its secret and',
    'standings in the data dir and continues from them when the hub restarts.',
    '',
    'Prints {"http", "multiaddrs", "runId"} as the first line; browsers load the app from "http",',
    'other hubs of the run pass one of "multiaddrs" to --bootstrap (and take the run from that hub).',
    'Off this machine, a page needs HTTPS (WebGPU needs a secure context): --tls-cert/--tls-key, or a',
    'TLS-terminating proxy and --public-url (docs/DEPLOY.md).',
  ],
} satisfies CommandSpec;

export async function run(args: OptionValues<typeof command.options>): Promise<void> {
  if ((args['tls-cert'] === undefined) !== (args['tls-key'] === undefined))
    throw new UsageError('webloco hub: --tls-cert and --tls-key go together (the certificate chain and its private key, PEM)');
  const list = (value: string | undefined) =>
    (value ?? '')
      .split(',')
      .map((a) => a.trim())
      .filter(Boolean);
  const { hub, stop } = await startRunHub({
    port: args.port,
    host: args.host,
    ...(args['tls-cert'] && args['tls-key']
      ? { tls: { cert: await readFile(args['tls-cert']), key: await readFile(args['tls-key']) } }
      : {}),
    ...(args['public-url'] ? { publicUrl: args['public-url'] } : {}),
    ice: {
      stun: list(args.stun),
      turn: list(args.turn),
      ...(args['turn-secret-file'] ? { turnSecret: await readTurnSecret(args['turn-secret-file']) } : {}),
    },
    dataDir: args['data-dir'],
    appDir: args['app-dir'],
    bootstrap: list(args.bootstrap),
    runId: args['run-id'],
    run: runSettingsFrom(args),
    takeAll: args['take-all'] ?? false,
    retainRounds: args['retain-rounds'],
    payloadDeadlineMs: args['payload-deadline-ms'],
  });
  console.log(JSON.stringify({ http: hub.http, multiaddrs: hub.multiaddrs, runId: hub.runId }));
  console.log(
    `hub for run '${hub.runId}' (preset ${hub.settings.preset}): open ${hub.http} in a browser; other hubs can --bootstrap ${hub.multiaddrs[0]}`,
  );
  await untilSignalled('hub', stop);
}

/** Waits for SIGINT or SIGTERM, then runs `stop` (once) and resolves. */
export function untilSignalled(who: string, stop: () => Promise<void>): Promise<void> {
  return new Promise<void>((done) => {
    const shutdown = (signal: string) => {
      console.log(`${who}: ${signal}, stopping`);
      process.off('SIGINT', onInt).off('SIGTERM', onTerm);
      stop().then(done, (err: unknown) => {
        console.error(`${who}: error while stopping: ${errorMessage(err)}`);
        done();
      });
    };
    const onInt = () => shutdown('SIGINT');
    const onTerm = () => shutdown('SIGTERM');
    process.on('SIGINT', onInt).on('SIGTERM', onTerm);
  });
}

export interface RunHubOptions extends Omit<HubOptions, 'gauntlet'> {
  /** Take every payload that decodes instead of letting the Gauntlet decide. */
  takeAll: boolean;
  /** The Gauntlet's numbers, when not its defaults (tests evaluate on fewer sequences). */
  gauntletConfig?: Partial<GauntletConfig>;
}

/**
 * A hub as `webloco hub` starts one (`webloco demo` too): the run's first hub (no bootstrap) gets
 * the Gauntlet on this machine's GPU unless `takeAll`, with the secret and the standings its data dir
 * holds (a restarted hub continues judging where it stopped). `stop` stops the hub and frees the GPU.
 */
export async function startRunHub(options: RunHubOptions): Promise<{ hub: Hub; stop: () => Promise<void> }> {
  const { takeAll, gauntletConfig, ...hubOptions } = options;
  const judges = !options.bootstrap?.length && !takeAll;
  const rt = judges ? await gauntletRuntime() : null;
  let gauntlet: Validator | undefined;
  try {
    const dir = new HubDataDir(options.dataDir);
    // A hub joining with --bootstrap takes the run's id and settings from the first hub (startHub).
    const settings = judges ? await dir.runSettings(options.runId, options.run ?? {}) : undefined;
    if (rt && settings) {
      const config = preset(settings.preset);
      const data = await ensureShards(tokenizerFor(config));
      const saved = await dir.gauntletSnapshot();
      gauntlet = await Validator.create(rt, {
        runId: settings.runId,
        config,
        trainTokens: data.train.tokens,
        seqLen: settings.seqLen,
        secret: await dir.gauntletSecret(),
        ...(gauntletConfig ? { gauntlet: gauntletConfig } : {}),
        ...(saved ? { state: saved.standings, recentModels: saved.recentModels } : {}),
      });
    }
    const hub = await startHub({ ...hubOptions, ...(settings ? { runId: settings.runId } : {}), gauntlet });
    return {
      hub,
      stop: () =>
        hub.stop().finally(() => {
          gauntlet?.destroy();
          rt?.destroy();
        }),
    };
  } catch (err) {
    gauntlet?.destroy();
    rt?.destroy();
    throw err;
  }
}

/** The GPU the Gauntlet scores on; without one the hub still runs, taking every payload that decodes. */
async function gauntletRuntime(): Promise<GpuRuntime | null> {
  try {
    return new GpuRuntime(await nodeGpuDevice());
  } catch (err) {
    console.error(
      `hub: no GPU for the Gauntlet (${errorMessage(err)}); deciding rounds by taking every payload that decodes, as --take-all does`,
    );
    return null;
  }
}
