// `webloco demo --peers N`: a whole swarm on this machine for a conference screen. It starts a hub
// as `webloco hub` does (dev chain, the Gauntlet, relay, the app; a fresh run in a temporary data
// dir, tiny preset, short rounds), then N headless Chromium pages, each opening the hub's page with
// ?join=burner so that it joins with a burner key once its GPU worker is ready (the page's own
// "Use a burner key" button is clicked if it has not started joining by itself), and prints the
// wall's URL, one line per peer as the chain registers it and one per decided round. Ctrl-C (or
// SIGTERM) closes the browser and stops the hub.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { errorMessage } from '../base/errors.ts';
import type { Extrinsic } from '../chain/extrinsics.ts';
import type { Hub } from '../hub/hub.ts';
import { checkRunShape, DEFAULT_RUN, type RunShape } from '../run/settings.ts';
import { parseCommand, runSettingOptions, runSettingsFrom, UsageError, type CommandSpec, type OptionValues } from './args.ts';
import { chromiumLaunchOptions } from './chromium.ts';
import { startRunHub } from './hub.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export const MAX_DEMO_PEERS = 32;

/** The demo's run unless told otherwise: the run defaults, in 10-block rounds (10 s) so a screen sees rounds go by. */
export const DEMO_RUN: RunShape = { ...DEFAULT_RUN, blocksPerRound: 10 };

export const command = {
  name: 'demo',
  summary:
    "a local swarm for a screen: a hub with the Gauntlet and N headless Chromium peers joining with burner keys; prints the wall's URL",
  options: {
    peers: { kind: 'number', default: 3, help: `headless Chromium pages that join the run (0 to ${MAX_DEMO_PEERS})` },
    port: { kind: 'number', default: 8080, help: "the hub's one port: the app, the API and libp2p's WebSockets (0: any free one)" },
    host: { kind: 'string', default: '127.0.0.1', help: 'interface the hub listens on' },
    'data-dir': { kind: 'string', placeholder: 'DIR', help: 'keep the run in DIR (default: a fresh temporary dir, removed at exit)' },
    'app-dir': { kind: 'string', placeholder: 'dist', help: "the built app (default: the repository's dist/, built when missing)" },
    ...runSettingOptions(DEMO_RUN),
    'take-all': { kind: 'boolean', help: 'take every payload that decodes instead of letting the Gauntlet decide' },
    headed: { kind: 'boolean', help: 'show the browser windows instead of running headless' },
  },
  details: [
    'A hub (dev chain, the Gauntlet, relay, the app) and N headless Chromium pages that join its run',
    "with burner keys and train on their WebGPU; prints the swarm wall's URL. Each demo is a fresh run",
    'in a temporary data dir unless --data-dir names one. Builds the app (vite build) when the',
    "repository's dist/ holds none. Ctrl-C stops everything.",
  ],
} satisfies CommandSpec;

export interface DemoOptions {
  peers: number;
  port: number;
  host: string;
  /** A fresh temporary dir (removed at exit) unless given. */
  dataDir: string | null;
  appDir: string;
  takeAll: boolean;
  /** Show the browser windows instead of running headless. */
  headed: boolean;
  run: RunShape;
}

/** The demo's options from its parsed arguments; throws UsageError with what is wrong. */
export function demoOptions(args: OptionValues<typeof command.options>): DemoOptions {
  const peers = args.peers;
  if (!Number.isInteger(peers) || peers < 0 || peers > MAX_DEMO_PEERS)
    throw new UsageError(`--peers must be a whole number from 0 to ${MAX_DEMO_PEERS}, got ${peers}`);
  const port = args.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port must be 0 (any free port) or a TCP port up to 65535, got ${port}`);
  const run = { ...DEMO_RUN, ...runSettingsFrom(args) };
  try {
    checkRunShape(run);
  } catch (err) {
    throw new UsageError(errorMessage(err));
  }
  return {
    peers,
    port,
    host: args.host,
    dataDir: args['data-dir'] ?? null,
    appDir: resolve(args['app-dir'] ?? join(REPO, 'dist')),
    takeAll: args['take-all'] ?? false,
    headed: args.headed ?? false,
    run,
  };
}

/** The demo's options from its command line, or null for --help (for tests). */
export function demoOptionsFrom(argv: string[]): DemoOptions | null {
  const values = parseCommand(command, argv);
  return values === 'help' ? null : demoOptions(values);
}

/** The swarm wall's address on the hub at `http` (the app's #/wall route). */
export function wallUrl(http: string): string {
  return `${http.replace(/\/$/, '')}/#/wall`;
}

export async function run(args: OptionValues<typeof command.options>): Promise<void> {
  const options = demoOptions(args);
  await ensureApp(options.appDir);
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'webloco-demo-')));
  const removeDataDir = () => (options.dataDir ? Promise.resolve() : rm(dataDir, { recursive: true, force: true }));
  const { hub, stop: stopHub } = await startRunHub({
    port: options.port,
    host: options.host,
    dataDir,
    appDir: options.appDir,
    run: options.run,
    takeAll: options.takeAll,
  }).catch(async (err: unknown) => {
    await removeDataDir();
    throw err;
  });
  const s = hub.settings;
  console.log(
    `hub: ${hub.http} (run '${hub.runId}', ${s.preset} preset, ${s.innerSteps} inner steps of ${s.batch}×${s.seqLen} tokens, a round every ${((s.blocksPerRound * s.blockTimeMs) / 1000).toFixed(0)} s, ` +
      `${hub.coordinator && !options.takeAll ? 'decided by the Gauntlet' : 'every payload that decodes taken'})`,
  );
  console.log(`wall: ${wallUrl(hub.http)}`);
  const stopReporting = reportChain(hub);

  let browser: Browser | null = null;
  let stopping = false;
  const stopAll = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`demo: ${signal}, stopping`);
    stopReporting();
    await browser?.close().catch(() => undefined); // already gone: nothing left to close
    await stopHub().catch((err: unknown) => console.error(`demo: error while stopping the hub: ${errorMessage(err)}`));
    await removeDataDir();
  };
  const stopped = new Promise<void>((done) => {
    const onSignal = (signal: string) => {
      // A second Ctrl-C while stopping ends the process at once.
      if (stopping) process.exit(130);
      void stopAll(signal).then(done);
    };
    process.on('SIGINT', () => onSignal('SIGINT')).on('SIGTERM', () => onSignal('SIGTERM'));
  });

  if (options.peers > 0) {
    try {
      const { chromium } = await import('playwright-core');
      const launch = chromiumLaunchOptions({ webgpu: true });
      // mDNS host names off: local peers then see each other's addresses and can link by WebRTC.
      // Ctrl-C is ours to handle: Playwright's own handlers would close the browser and exit under us.
      browser = await chromium.launch({
        ...launch,
        headless: !options.headed,
        handleSIGINT: false,
        handleSIGTERM: false,
        handleSIGHUP: false,
        args: [...(launch.args ?? []), '--disable-features=WebRtcHideLocalIpsWithMdns'],
      });
      const page = `${hub.http}/?join=burner`;
      console.log(`demo: opening ${options.peers} Chromium page${options.peers === 1 ? '' : 's'} at ${page}`);
      // Each page in its own context: its own storage, so its own burner key and session.
      for (let i = 1; i <= options.peers; i++) {
        const context = await browser.newContext();
        const tab = await context.newPage();
        tab.on('pageerror', (err) => console.error(`[peer ${i}] page error: ${err.message}`));
        if (process.env.WEBLOCO_DEBUG)
          tab.on('console', (message) => message.type() === 'error' && console.error(`[peer ${i}] console: ${message.text()}`));
        void drivePage(tab, page, i, () => stopping).catch((err) => {
          if (!stopping) console.error(`[peer ${i}] ${errorMessage(err).split('\n')[0]}`);
        });
      }
    } catch (err) {
      await stopAll('could not start the peers');
      throw err;
    }
  }
  await stopped;
}

/** The built app in `appDir`, building it with Vite when it is missing. */
async function ensureApp(appDir: string): Promise<void> {
  if (existsSync(join(appDir, 'index.html'))) return;
  if (appDir !== join(REPO, 'dist'))
    throw new Error(`${appDir} holds no built app (index.html): run npm run build, or point --app-dir at vite build's output`);
  console.log(`demo: ${appDir} holds no built app: building it (vite build)…`);
  let vite: typeof import('vite');
  try {
    vite = await import('vite');
  } catch {
    throw new Error('the app is not built and Vite is not installed here: run npm ci && npm run build, then npm run demo');
  }
  await vite.build({ root: REPO, configFile: join(REPO, 'vite.config.ts'), logLevel: 'warn' });
}

/**
 * Opens the hub's page with ?join=burner. The page joins by itself once its GPU worker is ready;
 * if its "Use a burner key" button is still there and enabled a few seconds later, it is clicked.
 */
async function drivePage(page: Page, url: string, index: number, stopping: () => boolean): Promise<void> {
  await page.goto(url);
  const button = page.getByRole('button', { name: 'Use a burner key' });
  const status = page.getByTestId('swarm-status');
  let enabledSince: number | null = null;
  let shown = '';
  while (!stopping()) {
    if (process.env.WEBLOCO_DEBUG) {
      // What the page says it is doing, each time it changes (WEBLOCO_DEBUG=1 webloco demo …).
      const now = (await status.textContent({ timeout: 500 }).catch(() => null)) ?? ''; // not on the page right now.replace(/ · step .*/, '');
      if (now && now !== shown) console.log(`[peer ${index}] ${now}`);
      shown = now || shown;
    }
    const ready = (await button.isVisible().catch(() => false)) && (await button.isEnabled().catch(() => false));
    if (!ready) {
      enabledSince = null;
      // Gone once the page is joining; keep watching in case it comes back (the run ended, the tab left).
    } else if (enabledSince === null) {
      enabledSince = Date.now();
    } else if (Date.now() - enabledSince > 5_000) {
      console.log(`[peer ${index}] the page did not join by itself: clicking "Use a burner key"`);
      await button.click().catch(() => undefined); // it went away meanwhile: the next look decides
      enabledSince = null;
    }
    await new Promise((wake) => setTimeout(wake, 1_000));
  }
}

/** Prints each session the chain registers and each round it decides, as they happen. */
function reportChain(hub: Hub): () => void {
  const chain = hub.chain;
  if (!chain) return () => undefined;
  const hotkeys = new Map<string, number>();
  return chain.onBlock((block) => {
    // Blocks this hub's own dev chain sealed: every extrinsic in them was checked on the way in.
    for (const x of block.extrinsics as Extrinsic[]) {
      if (x.call === 'register') {
        const { hotkey, peerId, burner } = x.binding.binding;
        const known = hotkeys.get(hotkey);
        const n = known ?? hotkeys.size + 1;
        hotkeys.set(hotkey, n);
        console.log(
          `peer ${n} ${known ? 'joined again' : 'joined'}: hotkey ${hotkey}${burner ? ' (burner)' : ''}, libp2p ${peerId} (block ${block.height})`,
        );
      }
      if (x.call === 'decision') {
        const d = x.decision.decision;
        console.log(
          `round ${d.round} decided: ${d.payloadHashes.length} payload${d.payloadHashes.length === 1 ? '' : 's'} taken, model ${d.modelHash.replace(/^0x/, '').slice(0, 12)}…`,
        );
      }
    }
  });
}
