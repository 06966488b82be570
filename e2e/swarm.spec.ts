// The swarm between real browsers: a hub (`webloco hub`, serving a page that runs src/swarm's
// browser peer) and three headless Chromium processes. Every pair of browsers must hold a direct
// WebRTC link, read from each connection (direct, and on the listening side a /webrtc remote
// address with no relay hop), and a 16 MB payload must cross from one browser to another over
// that link and arrive with the right hash. Runs inside e2e/netns.sh's private namespace.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium, expect, test, type Browser, type Page } from '@playwright/test';
import { chromiumLaunchOptions } from '../src/cli/chromium.ts';
import type { PeerLink } from '../src/swarm/swarm.ts';
import { writeSwarmPageApp } from './fixtures/swarm-page-app.ts';

const RUN_ID = 'e2e-swarm';
const PAYLOAD_BYTES = 16 * 1024 * 1024;

interface SwarmPage {
  start(hubAddrs: string[], runId: string): Promise<string>;
  links(): PeerLink[];
  dialFailures(): string[];
  makePayload(bytes: number, seed: number): Promise<string>;
  fetchPayload(peer: string, hash: string): Promise<{ bytes: number; hash: string; ms: number; over: string[] }>;
}
declare global {
  interface Window {
    swarmPage: SwarmPage;
  }
}

/** The fixture page and its bundle, in a folder the hub serves as its app. */
async function buildFixtureApp(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'webloco-swarm-app-'));
  await writeSwarmPageApp(dir, 'index.html');
  return dir;
}

async function startHubProcess(appDir: string): Promise<{ hub: ChildProcess; http: string; multiaddrs: string[] }> {
  const hub = spawn(
    process.execPath,
    [
      'bin/webloco.mjs',
      'hub',
      '--port',
      '0',
      '--data-dir',
      mkdtempSync(join(tmpdir(), 'webloco-swarm-hub-')),
      '--app-dir',
      appDir,
      '--run-id',
      RUN_ID,
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const firstLine = await new Promise<string>((done, fail) => {
    const lines = createInterface({ input: hub.stdout });
    lines.once('line', done);
    hub.once('exit', (code) => fail(new Error(`webloco hub exited with code ${code} before printing its addresses`)));
  });
  const { http, multiaddrs } = JSON.parse(firstLine) as { http: string; multiaddrs: string[] };
  return { hub, http, multiaddrs };
}

test('three browsers hold direct WebRTC links to each other and move 16 MB browser to browser', async () => {
  test.setTimeout(180_000);
  const appDir = await buildFixtureApp();
  const { hub, http, multiaddrs } = await startHubProcess(appDir);
  const launch = chromiumLaunchOptions({ webgpu: false });
  const browsers: Browser[] = [];
  try {
    // Separate processes, as separate visitors would be; hidden mDNS names off so logs show addresses.
    browsers.push(
      ...(await Promise.all(
        [0, 1, 2].map(() =>
          chromium.launch({ ...launch, args: [...(launch.args ?? []), '--disable-features=WebRtcHideLocalIpsWithMdns'] }),
        ),
      )),
    );
    const pages: Page[] = await Promise.all(browsers.map((b) => b.newPage()));
    const errors: string[] = [];
    pages.forEach((p, i) => p.on('pageerror', (e) => errors.push(`page ${i}: ${e.message}`)));
    await Promise.all(pages.map((p) => p.goto(http)));
    await Promise.all(pages.map((p) => expect(p.locator('body')).toHaveAttribute('data-ready', 'true')));
    const ids = await Promise.all(
      pages.map((p) => p.evaluate(([addrs, run]) => window.swarmPage.start(addrs, run), [multiaddrs, RUN_ID] as const)),
    );

    // Every browser must see a direct WebRTC link to each of the other two.
    const directPeers = (page: Page) =>
      page.evaluate(() =>
        [
          ...new Set(
            window.swarmPage
              .links()
              .filter((l) => l.kind === 'webrtc')
              .map((l) => l.peer),
          ),
        ].sort(),
      );
    const linkedAt = Date.now();
    await expect
      .poll(async () => Promise.all(pages.map(directPeers)), { timeout: 100_000, intervals: [500] }) // room for two 20 s dial timeouts and their backoff
      .toEqual(ids.map((id) => ids.filter((other) => other !== id).sort()));
    const failures = (await Promise.all(pages.map((p) => p.evaluate(() => window.swarmPage.dialFailures())))).flat();
    console.log(
      `all 3 pairs linked directly ${((Date.now() - linkedAt) / 1000).toFixed(1)} s after the peers started; failed dials on the way: ${failures.length ? failures.join('; ') : 'none'}`,
    );
    for (const [i, page] of pages.entries()) {
      const links = (await page.evaluate(() => window.swarmPage.links())).filter((l) => l.kind === 'webrtc');
      for (const link of links) {
        expect(link.direct, `page ${i} → ${link.peer}`).toBe(true);
        expect(link.remoteAddr).toContain('/webrtc');
        // The dialer's remoteAddr is the dialed circuit address; the listener's shows the plain WebRTC hop.
        if (link.direction === 'inbound') expect(link.remoteAddr).not.toContain('/p2p-circuit');
      }
    }

    // 16 MB from browser 0 to browser 2, over their direct link.
    const hash = await pages[0]!.evaluate((n) => window.swarmPage.makePayload(n, 42), PAYLOAD_BYTES);
    const received = await pages[2]!.evaluate(([peer, h]) => window.swarmPage.fetchPayload(peer, h), [ids[0]!, hash] as const);
    console.log(
      `16 MB browser to browser in ${(received.ms / 1000).toFixed(2)} s (${(PAYLOAD_BYTES / received.ms / 1000).toFixed(1)} MB/s)`,
    );
    expect(received).toMatchObject({ bytes: PAYLOAD_BYTES, hash });
    expect(received.over).toContain('webrtc');
    expect(errors).toEqual([]);
  } finally {
    await Promise.all(browsers.map((b) => b.close()));
    hub.kill('SIGTERM');
  }
});
