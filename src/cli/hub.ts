// `webloco hub`: starts a hub (relay, gossip, object store, the app and the HTTP API; src/hub).
// Its first line on stdout is one JSON object {"http", "multiaddrs", "runId"} for scripts and
// tests; human-readable lines follow. SIGINT / SIGTERM stop it cleanly.
import { randomBytes } from 'node:crypto';
import { ensureShards } from '../data/node.ts';
import { tokenizerFor } from '../engine/policy.ts';
import { Validator } from '../gauntlet/validator.ts';
import { nodeGpuDevice } from '../gpu/node.ts';
import { GpuRuntime } from '../gpu/runtime.ts';
import { runSettings, startHub, type Hub, type HubOptions } from '../hub/hub.ts';
import { preset } from '../model/config.ts';
import { parseArgs } from './args.ts';

export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv, {
    port: 'number',
    'p2p-port': 'number',
    host: 'string',
    'data-dir': 'string',
    'app-dir': 'string',
    bootstrap: 'string',
    'run-id': 'string',
    preset: 'string',
    seed: 'number',
    batch: 'number',
    'seq-len': 'number',
    'inner-steps': 'number',
    rounds: 'number',
    'blocks-per-round': 'number',
    'block-time-ms': 'number',
    'checkpoint-every': 'number',
    'take-all': 'boolean',
    help: 'boolean',
  });
  if (args.help) {
    console.log(
      [
        'usage: webloco hub [--port 8080] [--p2p-port PORT+1] [--host 127.0.0.1] [--data-dir .webloco/hub]',
        '                   [--app-dir dist] [--bootstrap ADDR[,ADDR...]] [--run-id ID] [--preset tiny]',
        '                   [--seed 0] [--batch 4] [--seq-len 64] [--inner-steps 10] [--rounds 1000]',
        '                   [--blocks-per-round 30] [--block-time-ms 1000] [--checkpoint-every 1] [--take-all]',
        '',
        'A new run takes its settings from these options (defaults above); a data dir that holds a run',
        'keeps the settings it was created with. The first hub of a run hosts its chain and decides its',
        "rounds with the Gauntlet (on this machine's GPU; --take-all instead takes every payload that",
        'decodes); hubs started with --bootstrap relay, carry gossip and keep objects.',
        '',
        'Prints {"http", "multiaddrs", "runId"} as the first line; browsers load the app from "http",',
        'other hubs of the run pass one of "multiaddrs" to --bootstrap.',
      ].join('\n'),
    );
    return;
  }
  const run = definedOnly({
    preset: args.preset,
    seed: args.seed,
    batch: args.batch,
    seqLen: args['seq-len'],
    innerSteps: args['inner-steps'],
    rounds: args.rounds,
    blocksPerRound: args['blocks-per-round'],
    blockTimeMs: args['block-time-ms'],
    checkpointEvery: args['checkpoint-every'],
  });
  const { hub, stop } = await startRunHub({
    port: args.port ?? 8080,
    p2pPort: args['p2p-port'],
    host: args.host,
    dataDir: args['data-dir'] ?? '.webloco/hub',
    appDir: args['app-dir'],
    bootstrap: args.bootstrap
      ?.split(',')
      .map((a) => a.trim())
      .filter(Boolean),
    runId: args['run-id'],
    run,
    takeAll: args['take-all'] ?? false,
  });
  console.log(JSON.stringify({ http: hub.http, multiaddrs: hub.multiaddrs, runId: hub.runId }));
  console.log(
    `hub for run '${hub.runId}' (preset ${hub.settings.preset}): open ${hub.http} in a browser; other hubs can --bootstrap ${hub.multiaddrs[0]}`,
  );

  await new Promise<void>((done) => {
    const shutdown = (signal: string) => {
      console.log(`hub: ${signal}, stopping`);
      process.off('SIGINT', onInt).off('SIGTERM', onTerm);
      stop().then(done, (err) => {
        console.error(`hub: error while stopping: ${err instanceof Error ? err.message : String(err)}`);
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
}

/**
 * A hub as `webloco hub` starts one (`webloco demo` too): the run's first hub (no bootstrap) gets
 * the Gauntlet on this machine's GPU unless `takeAll`. `stop` stops the hub and frees the GPU.
 */
export async function startRunHub(options: RunHubOptions): Promise<{ hub: Hub; stop(): Promise<void> }> {
  const { takeAll, ...hubOptions } = options;
  const judges = !options.bootstrap?.length && !takeAll;
  const rt = judges ? await gauntletRuntime() : null;
  let gauntlet: Validator | undefined;
  try {
    const settings = await runSettings(options.dataDir, options.runId, options.run ?? {});
    if (rt) {
      const config = preset(settings.preset);
      const data = await ensureShards(tokenizerFor(config));
      gauntlet = await Validator.create(rt, {
        runId: settings.runId,
        config,
        trainTokens: data.train.tokens,
        seqLen: settings.seqLen,
        secret: randomBytes(32).toString('hex'),
      });
    }
    const hub = await startHub({ ...hubOptions, runId: settings.runId, gauntlet });
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

/** The options that were given, so that defaults and a stored run fill the rest. */
export function definedOnly<T extends Record<string, unknown>>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The GPU the Gauntlet scores on; without one the hub still runs, taking every payload that decodes. */
async function gauntletRuntime(): Promise<GpuRuntime | null> {
  try {
    return new GpuRuntime(await nodeGpuDevice());
  } catch (err) {
    console.error(
      `hub: no GPU for the Gauntlet (${err instanceof Error ? err.message : String(err)}); deciding rounds by taking every payload that decodes, as --take-all does`,
    );
    return null;
  }
}
