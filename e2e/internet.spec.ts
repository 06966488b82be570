// From localhost to the internet (issue 19), in network namespaces this test makes
// (e2e/internet-netns.sh; nothing leaves them, and they are removed at the end, failed or not):
// a "public" network with the run's first hub speaking HTTPS and WSS on one port (a certificate
// from a throwaway CA made here with openssl), a second hub (--bootstrap) behind nginx configured
// exactly as docs/DEPLOY.md shows (TLS for the page and the WebSockets, --public-url), and coturn;
// three "home" networks, each behind its own NAT router (two home routers, one symmetric NAT),
// each with a headless Chromium launched inside it through a wrapper script. The tabs open the
// hubs by name (https://hub.test:9443/, https://proxied.test/; a host-resolver rule), trust the
// CA's certificate through --ignore-certificate-errors-spki-list, join with burner keys and train.
// Checked: both home-router tabs (on different hubs) train two rounds on the decisions' model
// hashes, linked directly through STUN-punched candidates; the tab behind the symmetric NAT
// exchanges payloads through TURN; the hub's relay carries only signalling; a page opened over plain
// HTTP off localhost says to open it over HTTPS. Then, in the same topology, payload throughput
// direct, through TURN and through the hub (docs/BENCHMARKS.md). Root only (CI runs as root).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, expect, test, type Browser, type Page } from '@playwright/test';
import { chromiumLaunchOptions } from '../src/cli/chromium.ts';
import type { RunInfo } from '../src/run/api.ts';
import type { PeerLink } from '../src/swarm/swarm.ts';
import { FAST_RUN, startHub, type HubProcess } from './fixtures/processes.ts';
import { writeSwarmPageApp } from './fixtures/swarm-page-app.ts';

const PREFIX = `wl${process.pid % 100_000}`;
const PUB = `${PREFIX}-pub`;
const HUB_ADDRESS = '10.98.0.1';
const FIRST_HUB_PORT = 9443;
const PROXIED_HUB_PORT = 8080;
const TURN = `turn:${HUB_ADDRESS}:3478?transport=udp`;
const BENCH_BYTES = 4 * 1024 * 1024;

/** The fixture page's API (e2e/fixtures/swarm-page.ts), served beside the app for the throughput part. */
interface BenchPage {
  start(hubAddrs: string[], runId: string, options: { iceServers: RTCIceServer[]; dialPrivateAddresses: boolean }): Promise<string>;
  linksWithPaths(): Promise<PeerLink[]>;
  makePayload(bytes: number, seed: number): Promise<string>;
  fetchPayload(peer: string, hash: string, protocol?: string): Promise<{ bytes: number; hash: string; ms: number }>;
}
type BenchWindow = Window & { swarmPage: BenchPage };

function run(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A throwaway CA and a certificate it signs for both hub names and the public address; returns the leaf's SPKI hash for Chromium. */
function makeCertificates(dir: string): { chain: string; key: string; ca: string; spki: string } {
  const f = (name: string) => join(dir, name);
  run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=WebLoCo e2e CA',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
  ]);
  run('openssl', [
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-subj',
    '/CN=hub.test',
    '-keyout',
    f('hub.key'),
    '-out',
    f('hub.csr'),
  ]);
  writeFileSync(f('san.ext'), `subjectAltName=DNS:hub.test,DNS:proxied.test,IP:${HUB_ADDRESS}\n`);
  run('openssl', [
    'x509',
    '-req',
    '-in',
    f('hub.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    f('san.ext'),
    '-out',
    f('hub.pem'),
  ]);
  writeFileSync(f('chain.pem'), readFileSync(f('hub.pem'), 'utf8') + readFileSync(f('ca.pem'), 'utf8'));
  const spkiDer = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'der'], {
    input: execFileSync('openssl', ['x509', '-pubkey', '-noout', '-in', f('hub.pem')]),
  });
  const spki = execFileSync('openssl', ['dgst', '-sha256', '-binary'], { input: spkiDer }).toString('base64');
  return { chain: f('chain.pem'), key: f('hub.key'), ca: f('ca.pem'), spki };
}

/** The nginx site from docs/DEPLOY.md with this test's name, certificate, addresses and folders; wrapped in a whole nginx.conf. */
function nginxConfig(dir: string, cert: { chain: string; key: string }): string {
  const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'DEPLOY.md'), 'utf8');
  const block = /<!-- nginx-site:begin -->\n```nginx\n([\s\S]*?)```\n<!-- nginx-site:end -->/.exec(doc);
  if (!block) throw new Error('docs/DEPLOY.md has no nginx site between its nginx-site markers');
  const site = block[1]!
    .replaceAll('hub.example.org', 'proxied.test')
    .replaceAll('/etc/letsencrypt/live/proxied.test/fullchain.pem', cert.chain)
    .replaceAll('/etc/letsencrypt/live/proxied.test/privkey.pem', cert.key)
    .replaceAll('/var/www/certbot', join(dir, 'acme'))
    .replace('listen 80;', `listen ${HUB_ADDRESS}:80;`)
    .replace('listen 443 ssl;', `listen ${HUB_ADDRESS}:443 ssl;`);
  return [
    'user root;',
    'worker_processes 1;',
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'nginx-error.log')} warn;`,
    'events {}',
    'http {',
    '  access_log off;',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(dir, `${t}-temp`)};`),
    site,
    '}',
  ].join('\n');
}

/** A long-running process in the public namespace whose output goes to the test's log, prefixed. */
function inPublic(name: string, command: string[]): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', PUB, ...command], { stdio: ['ignore', 'pipe', 'pipe'] });
  for (const stream of [child.stdout!, child.stderr!])
    stream.on('data', (c: Buffer) => {
      for (const line of c.toString().split('\n')) if (line.trim()) console.log(`[${name}] ${line}`);
    });
  return child;
}

/** A Chromium inside `home`: Playwright launches it through a script that enters the namespace. */
async function launchIn(dir: string, home: string, spki: string): Promise<Browser> {
  const wrapper = join(dir, `chromium-${home}.sh`);
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${home} ${chromiumLaunchOptions({ webgpu: true }).executablePath} "$@"\n`);
  chmodSync(wrapper, 0o755);
  const launch = chromiumLaunchOptions({ webgpu: true });
  return chromium.launch({
    ...launch,
    executablePath: wrapper,
    args: [
      ...(launch.args ?? []),
      `--host-resolver-rules=MAP *.test ${HUB_ADDRESS}`,
      `--ignore-certificate-errors-spki-list=${spki}`,
      '--disable-features=WebRtcHideLocalIpsWithMdns',
    ],
  });
}

/** A JSON route of the page's own hub, fetched by the page (the test's process is outside the namespaces). */
function getJson<T>(page: Page, path: string): Promise<T> {
  return page.evaluate(async (p) => (await (await fetch(p)).json()) as unknown, path) as Promise<T>;
}

interface TabRound {
  round: number;
  modelHash: string;
  payloadHash: string;
  fetchedFrom: string[];
}

async function tabRounds(page: Page): Promise<TabRound[]> {
  return page.getByTestId('swarm-round-row').evaluateAll((rows) =>
    rows.map((row) => ({
      round: Number(row.getAttribute('data-round')),
      modelHash: row.getAttribute('data-model-hash')!,
      payloadHash: row.getAttribute('data-payload-hash') ?? '',
      fetchedFrom: (row.getAttribute('data-fetched-from') ?? '').split(' ').filter(Boolean),
    })),
  );
}

interface ShownLink {
  peer: string;
  kinds: string;
  path: string;
  candidates: string;
  bytes: number;
  text: string;
}

async function shownLinks(page: Page): Promise<ShownLink[]> {
  return page.getByTestId('peer').evaluateAll((items) =>
    items.map((li) => ({
      peer: li.getAttribute('data-peer-id')!,
      kinds: li.getAttribute('data-kinds') ?? '',
      path: li.getAttribute('data-path') ?? '',
      candidates: li.getAttribute('data-candidates') ?? '',
      bytes: Number(li.getAttribute('data-bytes') || 0),
      text: li.textContent ?? '',
    })),
  );
}

/** Every decision on the chain: round → H_{w+1}. */
async function decisions(page: Page): Promise<Map<number, string>> {
  const found = new Map<number, string>();
  const { blocks } = await getJson<{
    blocks: { extrinsics: { call: string; decision?: { decision: { round: number; modelHash: string } } }[] }[];
  }>(page, '/api/chain/blocks?from=0&limit=1000');
  for (const x of blocks.flatMap((b) => b.extrinsics))
    if (x.call === 'decision') found.set(x.decision!.decision.round, x.decision!.decision.modelHash.replace(/^0x/, ''));
  return found;
}

/** When a binding's first commit reached the chain (its block's timestamp). */
async function firstCommitAt(page: Page, bindingId: string): Promise<number | undefined> {
  const { blocks } = await getJson<{
    blocks: { timestamp: number; extrinsics: { call: string; commit?: { announcement: { binding: string } } }[] }[];
  }>(page, '/api/chain/blocks?from=0&limit=1000');
  return blocks.find((b) => b.extrinsics.some((x) => x.call === 'commit' && x.commit!.announcement.binding === bindingId))?.timestamp;
}

test.skip(process.getuid?.() !== 0, 'builds network namespaces: run as root (CI does)');

test('tabs behind NATs train on two hubs over HTTPS/WSS, link directly through STUN or through TURN, and the relay carries only signalling', async () => {
  test.setTimeout(300_000);
  const started = Date.now();
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;
  const dir = mkdtempSync(join(tmpdir(), 'webloco-internet-'));
  const children: ChildProcess[] = [];
  const hubs: HubProcess[] = [];
  const browsers: Browser[] = [];
  const netns = (action: 'up' | 'down') => run('bash', [join(import.meta.dirname, 'internet-netns.sh'), action, PREFIX]);
  try {
    netns('up');
    const cert = makeCertificates(dir);
    const secretFile = join(dir, 'turn-secret');
    const secret = execFileSync('openssl', ['rand', '-hex', '24'], { encoding: 'utf8' }).trim();
    writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
    writeFileSync(
      join(dir, 'turnserver.conf'),
      [
        'listening-port=3478',
        `listening-ip=${HUB_ADDRESS}`,
        `relay-ip=${HUB_ADDRESS}`,
        'min-port=49160',
        'max-port=49200',
        'realm=hub.test',
        'use-auth-secret',
        `static-auth-secret=${secret}`,
        'fingerprint',
        'no-tls',
        'no-dtls',
        'no-cli',
        'no-multicast-peers',
        // Relay only to the public network: relaying to a home's private address ends the allocation.
        'denied-peer-ip=192.168.0.0-192.168.255.255',
        'allowed-peer-ip=10.98.0.0-10.98.0.255',
        `pidfile=${join(dir, 'turnserver.pid')}`,
        `log-file=${join(dir, 'turnserver.log')}`,
        'simple-log',
      ].join('\n'),
    );
    children.push(inPublic('coturn', ['turnserver', '-c', join(dir, 'turnserver.conf')]));

    // The app and, beside it, the throughput page, served by both hubs.
    const appDir = join(dir, 'app');
    cpSync('dist', appDir, { recursive: true });
    await writeSwarmPageApp(appDir, 'bench.html');

    const ice = ['--stun', `stun:${HUB_ADDRESS}:3478`, '--turn', TURN, '--turn-secret-file', secretFile];
    const runArgs = [...FAST_RUN, '--take-all', '--binding-work-bits', '12'];
    const first = await startHub({
      netns: PUB,
      appDir,
      args: [
        ...runArgs,
        ...ice,
        '--host',
        HUB_ADDRESS,
        '--port',
        String(FIRST_HUB_PORT),
        '--tls-cert',
        cert.chain,
        '--tls-key',
        cert.key,
        '--public-url',
        `https://hub.test:${FIRST_HUB_PORT}`,
      ],
    });
    hubs.push(first);
    const firstId = first.multiaddrs[0]!.split('/p2p/')[1]!;
    expect(first.multiaddrs).toEqual([`/dns4/hub.test/tcp/${FIRST_HUB_PORT}/wss/p2p/${firstId}`]);
    // Behind nginx; it also listens on the public address, so that a page can be opened over plain HTTP (below).
    const proxied = await startHub({
      netns: PUB,
      appDir,
      env: { NODE_EXTRA_CA_CERTS: cert.ca },
      args: [
        ...ice,
        '--host',
        '0.0.0.0',
        '--port',
        String(PROXIED_HUB_PORT),
        '--public-url',
        'https://proxied.test',
        '--bootstrap',
        `/ip4/${HUB_ADDRESS}/tcp/${FIRST_HUB_PORT}/tls/ws/p2p/${firstId}`,
      ],
    });
    hubs.push(proxied);
    expect(proxied.runId).toBe(first.runId);
    writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, cert));
    children.push(inPublic('nginx', ['nginx', '-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;']));
    console.log(`${elapsed()}: topology up; first hub ${first.http}, second hub ${proxied.http} behind nginx, coturn at ${TURN}`);

    const homes = [1, 2, 3].map((i) => `${PREFIX}-home${i}`);
    browsers.push(...(await Promise.all(homes.map((home) => launchIn(dir, home, cert.spki)))));
    const pages = await Promise.all(browsers.map((b) => b.newPage()));
    const errors: string[] = [];
    pages.forEach((p, i) => p.on('pageerror', (e) => errors.push(`tab ${i + 1}: ${e.message}`)));
    const urls = [
      `https://hub.test:${FIRST_HUB_PORT}/?join=burner`,
      'https://proxied.test/?join=burner',
      `https://hub.test:${FIRST_HUB_PORT}/?join=burner`,
    ];
    const openedAt = await Promise.all(
      pages.map(async (page, i) => {
        const at = Date.now();
        await page.goto(urls[i]!);
        return at;
      }),
    );

    // Over plain HTTP off localhost the page is no secure context: it says to open it over HTTPS, not that WebGPU is missing.
    const plain = await browsers[0]!.newPage();
    await plain.goto(`http://${HUB_ADDRESS}:${PROXIED_HUB_PORT}/`);
    await expect(plain.getByTestId('insecure-context')).toContainText('Open this page over HTTPS');
    await expect(plain.getByTestId('insecure-context')).toContainText(`https://${HUB_ADDRESS}:${PROXIED_HUB_PORT}/`);
    await expect(plain.getByTestId('gpu-unavailable')).toHaveCount(0);
    await plain.close();

    await Promise.all(pages.map((p) => expect(p.getByTestId('swarm')).toHaveAttribute('data-phase', 'joined', { timeout: 150_000 })));
    const ids = await Promise.all(pages.map(async (p) => (await p.getByTestId('peer-id').textContent())!));
    const bindings = await Promise.all(pages.map(async (p) => (await p.getByTestId('binding-id').getAttribute('data-binding-id'))!));
    console.log(`${elapsed()}: the three tabs joined (${ids.map((id) => `…${id.slice(-6)}`).join(', ')})`);

    // The home-router tabs, one on each hub, train two rounds on the decided model, and link directly.
    const decided = async (page: Page) => {
      const [rounds, chain] = [await tabRounds(page), await decisions(page)];
      return rounds.filter((r) => chain.get(r.round) === r.modelHash).length;
    };
    await expect
      .poll(async () => Math.min(await decided(pages[0]!), await decided(pages[1]!)), { timeout: 120_000, intervals: [1000] })
      .toBeGreaterThanOrEqual(2);
    const linkBetween = async (i: number, j: number) => (await shownLinks(pages[i]!)).find((l) => l.peer === ids[j]);
    await expect.poll(async () => (await linkBetween(0, 1))?.path, { timeout: 60_000 }).toBe('direct');
    await expect.poll(async () => (await linkBetween(1, 0))?.path, { timeout: 30_000 }).toBe('direct');

    // The tab behind the symmetric NAT exchanges payloads, through TURN: it fetched one from a home
    // tab over its TURN link, and a home tab fetched one from it.
    const throughTurn = async () => {
      const fetchedBy3 = (await tabRounds(pages[2]!)).some((r) => r.fetchedFrom.some((p) => p === ids[0] || p === ids[1]));
      const fetchedFrom3 = await Promise.all(
        [0, 1].map(async (i) => (await tabRounds(pages[i]!)).some((r) => r.fetchedFrom.includes(ids[2]!))),
      );
      return { fetchedBy3, fetchedFrom3: fetchedFrom3.some(Boolean) };
    };
    await expect.poll(throughTurn, { timeout: 150_000, intervals: [1000] }).toEqual({ fetchedBy3: true, fetchedFrom3: true });
    const turnLinks = [];
    for (const j of [0, 1]) {
      const link = await linkBetween(2, j);
      if (link?.path) turnLinks.push(link);
    }
    expect(turnLinks.length, 'the symmetric-NAT tab holds WebRTC links with known paths').toBeGreaterThan(0);
    for (const link of turnLinks) expect(link.path, `tab 3 → …${link.peer.slice(-6)}: ${link.text}`).toBe('turn');

    // How each pair is linked, as the pages show it, and what the hubs' relays carried for the tabs.
    for (const [i, page] of pages.entries())
      for (const link of (await shownLinks(page)).filter((l) => ids.includes(l.peer)))
        console.log(
          `LINK tab ${i + 1} → tab ${ids.indexOf(link.peer) + 1}: ${link.path || link.kinds} ${link.candidates} (${link.bytes} bytes): ${link.text.replace(/^.*?: /, '')}`,
        );
    let relayed = 0;
    for (const [name, page] of [
      ['first hub', pages[0]!],
      ['second hub', pages[1]!],
    ] as const) {
      const info = await getJson<RunInfo>(page, '/api/run');
      const own = info.peers.filter((p) => ids.includes(p.peerId));
      console.log(`RELAY ${name}: ${own.map((p) => `tab ${ids.indexOf(p.peerId) + 1} ${p.relayedBytes} bytes`).join(', ')}`);
      for (const p of own) expect(p.relayedBytes, 'the relay carries signalling only').toBeLessThan(128 * 1024);
      relayed += own.reduce((n, p) => n + p.relayedBytes, 0);
    }
    expect(relayed, "the direct links were set up through a hub's relay").toBeGreaterThan(0);

    // Time from opening the page to its first payload on chain.
    for (const [i, page] of pages.entries()) {
      const at = await firstCommitAt(page, bindings[i]!);
      console.log(
        `FIRST PAYLOAD tab ${i + 1}: ${at === undefined ? 'none yet' : `${((at - openedAt[i]!) / 1000).toFixed(1)} s after opening the page`}`,
      );
    }

    // Throughput in this topology: 4 MiB tab to tab directly (home 1 → home 2) and through TURN
    // (home 1 → home 3), and the checkpoint from the first hub over WSS, each on a fresh fixture page.
    const info = await getJson<RunInfo>(pages[0]!, '/api/run');
    const benches = await Promise.all(browsers.map((b) => b.newPage()));
    await Promise.all(benches.map((p) => p.goto(`https://hub.test:${FIRST_HUB_PORT}/bench.html`)));
    const benchIds = await Promise.all(
      benches.map((p) =>
        p.evaluate(
          ([addrs, runId, iceServers]) =>
            (window as unknown as BenchWindow).swarmPage.start(addrs, runId, { iceServers, dialPrivateAddresses: false }),
          [info.hub.multiaddrs, info.runId, info.iceServers as RTCIceServer[]] as const,
        ),
      ),
    );
    const benchPath = async (i: number, j: number) =>
      (await benches[i]!.evaluate(() => (window as unknown as BenchWindow).swarmPage.linksWithPaths())).find(
        (l) => l.peer === benchIds[j] && l.path,
      )?.path;
    await expect.poll(async () => (await benchPath(1, 0))?.via, { timeout: 60_000 }).toBe('direct');
    await expect.poll(async () => (await benchPath(2, 0))?.via, { timeout: 60_000 }).toBe('turn');
    const hash = await benches[0]!.evaluate((n) => (window as unknown as BenchWindow).swarmPage.makePayload(n, 19), BENCH_BYTES);
    const rate = (r: { bytes: number; ms: number }) =>
      `${(r.bytes / r.ms / 1000).toFixed(1)} MB/s (${r.bytes} bytes in ${(r.ms / 1000).toFixed(2)} s)`;
    for (const [i, how] of [
      [1, 'direct'],
      [2, 'TURN'],
    ] as const) {
      const got = await benches[i]!.evaluate(([peer, h]) => (window as unknown as BenchWindow).swarmPage.fetchPayload(peer, h), [
        benchIds[0]!,
        hash,
      ] as const);
      expect(got).toMatchObject({ bytes: BENCH_BYTES, hash });
      const path = await benchPath(i, 0);
      console.log(`THROUGHPUT ${how} (${path?.local}/${path?.remote}): ${rate(got)}`);
    }
    // The hub path: the run's checkpoint (the hub's own copy) over WSS, four times in a row.
    const fromHub = [];
    for (let k = 0; k < 4; k++)
      fromHub.push(
        await benches[1]!.evaluate(
          ([peer, h]) => (window as unknown as BenchWindow).swarmPage.fetchPayload(peer, h, '/webloco/checkpoint/1'),
          [info.hub.peerId, info.checkpoint!.objectHash] as const,
        ),
      );
    const total = { bytes: fromHub.reduce((n, r) => n + r.bytes, 0), ms: fromHub.reduce((n, r) => n + r.ms, 0) };
    console.log(
      `THROUGHPUT hub (the checkpoint over WSS from the first hub, 4 times): ${rate(total)}; fastest ${rate(fromHub.reduce((a, b) => (a.ms < b.ms ? a : b)))}`,
    );
    expect(errors).toEqual([]);
    console.log(`${elapsed()}: done`);
  } finally {
    await Promise.all(browsers.map((b) => b.close().catch(() => {})));
    for (const hub of hubs) hub.stop();
    for (const child of children) child.kill('SIGTERM');
    // Each gets a few seconds to stop; whatever is still inside a namespace then is killed with it.
    await Promise.all(
      [...hubs.map((h) => h.process), ...children].map((c) =>
        c.exitCode === null && c.signalCode === null
          ? Promise.race([new Promise((done) => c.once('exit', done)), new Promise((done) => setTimeout(done, 5_000))])
          : Promise.resolve(),
      ),
    );
    netns('down');
  }
});
