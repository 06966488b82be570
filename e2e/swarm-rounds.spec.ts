// A mixed swarm trains together, inside e2e/netns.sh's private network namespace: a `webloco hub`
// (relay, dev chain, round keeper) serving the built app, two headless Chromiums that open it and
// join with burner keys through the page (their GPU worker trains on SwiftShader), and two
// `webloco peer` processes. Every member must report the same model hash for the same round, the
// hash the chain's decision names, for three rounds. Then a peer is killed mid-round (SIGKILL) and
// the round still closes on time; then a peer that joins late reaches the swarm's model hash
// within one round. Each browser's links (direct WebRTC, relayed, WebSocket to the hub) are read
// from its page: the two browsers must hold a direct WebRTC link.
import { chromium, expect, test, type Browser, type Page } from '@playwright/test';
import { chromiumLaunchOptions } from '../src/cli/chromium.ts';
import { FAST_RUN, startHub, startPeer, type HubProcess, type PeerProcess } from './fixtures/processes.ts';
import { holdsFor } from './fixtures/wait.ts';

const BLOCKS_PER_ROUND = 20;
const BLOCK_TIME_MS = 500;

interface MemberRound {
  round: number;
  modelHash: string;
  included: boolean;
}

interface DecisionOnChain {
  round: number;
  height: number;
  modelHash: string;
  payloads: number;
}

async function pageRounds(page: Page): Promise<MemberRound[]> {
  return page.getByTestId('swarm-round-row').evaluateAll((rows) =>
    rows.map((row) => ({
      round: Number(row.getAttribute('data-round')),
      modelHash: row.getAttribute('data-model-hash')!,
      included: row.getAttribute('data-included') === 'true',
    })),
  );
}

/** Every decision on the hub's chain, with the height of the block that holds it. */
async function decisions(hub: HubProcess): Promise<Map<number, DecisionOnChain>> {
  const found = new Map<number, DecisionOnChain>();
  for (let from = 0; ; from += 1000) {
    const { blocks } = (await (await fetch(`${hub.http}/api/chain/blocks?from=${from}&limit=1000`)).json()) as {
      blocks: {
        height: number;
        extrinsics: { call: string; decision?: { decision: { round: number; modelHash: string; payloadHashes: string[] } } }[];
      }[];
    };
    for (const block of blocks) {
      for (const x of block.extrinsics) {
        if (x.call !== 'decision') continue;
        const d = x.decision!.decision;
        found.set(d.round, {
          round: d.round,
          height: block.height,
          modelHash: d.modelHash.replace(/^0x/, ''),
          payloads: d.payloadHashes.length,
        });
      }
    }
    if (blocks.length < 1000) return found;
  }
}

/** Session registrations in blocks made at or after `since` (ms since the epoch). */
async function registrationsSince(hub: HubProcess, since: number): Promise<{ height: number; timestamp: number; hotkey: string }[]> {
  const found: { height: number; timestamp: number; hotkey: string }[] = [];
  for (let from = 0; ; from += 1000) {
    const { blocks } = (await (await fetch(`${hub.http}/api/chain/blocks?from=${from}&limit=1000`)).json()) as {
      blocks: { height: number; timestamp: number; extrinsics: { call: string; binding?: { binding: { hotkey: string } } }[] }[];
    };
    for (const block of blocks) {
      for (const x of block.extrinsics)
        if (x.call === 'register' && block.timestamp >= since)
          found.push({ height: block.height, timestamp: block.timestamp, hotkey: x.binding!.binding.hotkey });
    }
    if (blocks.length < 1000) return found;
  }
}

async function chainRound(hub: HubProcess): Promise<number> {
  return ((await (await fetch(`${hub.http}/api/chain/head`)).json()) as { round: number }).round;
}

test('two browsers and two webloco peers agree on the model every round; a killed peer delays nothing; a late peer catches up within a round', async () => {
  test.setTimeout(300_000);
  const started = Date.now();
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;
  // The swarm's mechanics, not the Gauntlet's judgement: every payload committed in time is taken.
  const hub = await startHub({ args: [...FAST_RUN, '--take-all'] });
  const peers: PeerProcess[] = [startPeer('peer-a', hub.http, 30), startPeer('peer-b', hub.http, 30)];
  const launch = chromiumLaunchOptions({ webgpu: true });
  const browsers: Browser[] = [];
  try {
    // Separate processes, as separate visitors would be; hidden mDNS names off so the links show addresses.
    browsers.push(
      ...(await Promise.all(
        [0, 1].map(() => chromium.launch({ ...launch, args: [...(launch.args ?? []), '--disable-features=WebRtcHideLocalIpsWithMdns'] })),
      )),
    );
    const pages = await Promise.all(browsers.map((b) => b.newPage()));
    const errors: string[] = [];
    pages.forEach((p, i) => p.on('pageerror', (e) => errors.push(`browser ${i}: ${e.message}`)));
    await Promise.all(pages.map((p) => p.goto(hub.http)));
    for (const page of pages) {
      await expect(page.getByTestId('gpu-ready')).toBeVisible();
      await page.getByRole('button', { name: 'Use a burner key' }).click();
    }
    await Promise.all(pages.map((p) => expect(p.getByTestId('swarm')).toHaveAttribute('data-phase', 'joined', { timeout: 120_000 })));
    for (const page of pages) await expect(page.getByTestId('hotkey-label')).toContainText('Burner key');
    console.log(`${elapsed()}: both browsers joined (chain in round ${await chainRound(hub)})`);

    // Three rounds that all four members finished: the same model hash everywhere, the decision's.
    const members = async (): Promise<[string, MemberRound[]][]> => [
      ...(await Promise.all(pages.map(async (p, i): Promise<[string, MemberRound[]]> => [`browser-${i}`, await pageRounds(p)]))),
      ...peers.map((p): [string, MemberRound[]] => [p.name, p.rounds]),
    ];
    const commonRounds = async () => {
      const all = await members();
      return [...new Set(all.flatMap(([, rounds]) => rounds.map((r) => r.round)))]
        .filter((round) => all.every(([, rounds]) => rounds.some((r) => r.round === round)))
        .sort((a, b) => a - b);
    };
    await expect.poll(async () => (await commonRounds()).length, { timeout: 150_000, intervals: [1000] }).toBeGreaterThanOrEqual(3);
    const common = (await commonRounds()).slice(0, 3);
    const decided = await decisions(hub);
    for (const [name, rounds] of await members()) {
      for (const round of common) {
        expect(rounds.find((r) => r.round === round)?.modelHash, `${name}, round ${round}`).toBe(decided.get(round)!.modelHash);
      }
      console.log(
        `${name}: rounds ${rounds.map((r) => `${r.round}${r.included ? '+' : ''}`).join(' ')} (+: its payload was in the decision)`,
      );
    }
    console.log(
      `${elapsed()}: rounds ${common.join(', ')}: all four members on the decided model hash; decisions held ${common.map((r) => decided.get(r)!.payloads).join(', ')} payloads`,
    );

    // How each browser is linked, as its page shows it.
    const ids = await Promise.all(pages.map((p) => p.getByTestId('peer-id').textContent()));
    for (const [i, page] of pages.entries()) {
      const shown = await page
        .getByTestId('peer')
        .evaluateAll((items) => items.map((li) => `${li.getAttribute('data-peer-id')!.slice(-6)}: ${li.getAttribute('data-kinds')}`));
      console.log(`browser-${i} (${ids[i]!.slice(-6)}) links: ${shown.join('; ')}`);
    }
    // The two browsers hold a direct WebRTC link (set up through the hub's relay), shown on both pages.
    for (const [i, page] of pages.entries()) {
      const other = ids[1 - i]!;
      await expect(page.locator(`[data-testid="peer"][data-peer-id="${other}"]`)).toHaveAttribute('data-kinds', /webrtc/, {
        timeout: 30_000,
      });
      await expect(page.locator(`[data-testid="peer"][data-peer-id="${other}"]`)).toContainText('direct WebRTC');
    }
    // A peer that joins the run in progress: started now, its Node engine takes a while to start
    // (Dawn compiles every pipeline on SwiftShader), which overlaps the kill below.
    const late = startPeer('peer-late', hub.http, 2);
    const lateStart = Date.now();
    peers.push(late);

    // SIGKILL a peer mid-round: 1.5 s after it reported a round, so while it trains or commits the
    // next. The 1.5 s are the point; through them it must still be running that next round.
    const victim = peers[1]!;
    const reported = victim.rounds.length;
    await expect.poll(() => victim.rounds.length, { timeout: 60_000 }).toBeGreaterThan(reported);
    const inRound = victim.rounds.length;
    await holdsFor(
      'peer-b runs its next round',
      1_500,
      () => victim.process.exitCode === null && victim.process.signalCode === null && victim.rounds.length === inRound,
    );
    const killedIn = await chainRound(hub);
    victim.process.kill('SIGKILL');
    const killedAt = Date.now();
    await expect.poll(async () => (await decisions(hub)).has(killedIn), { timeout: 60_000, intervals: [250] }).toBe(true);
    const decision = (await decisions(hub)).get(killedIn)!;
    const deadline = (killedIn + 1) * BLOCKS_PER_ROUND - 1;
    const usual = [...decided.values()].map((d) => d.height - ((d.round + 1) * BLOCKS_PER_ROUND - 1));
    console.log(
      `${elapsed()}: peer-b killed in round ${killedIn}; its decision came in block ${decision.height}, ${decision.height - deadline} block(s) after the round's last block ` +
        `(${(decision.height - deadline) * BLOCK_TIME_MS} ms; other rounds: ${Math.min(...usual)}..${Math.max(...usual)} blocks), ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill`,
    );
    expect(decision.height - deadline, 'the decision of the round a peer died in is as prompt as any').toBeLessThanOrEqual(
      Math.max(2, ...usual),
    );
    // The others carry on through that round on the decided model.
    for (const page of pages)
      await expect
        .poll(async () => (await pageRounds(page)).find((r) => r.round === killedIn)?.modelHash, { timeout: 60_000 })
        .toBe(decision.modelHash);
    await expect.poll(() => peers[0]!.rounds.find((r) => r.round === killedIn)?.modelHash, { timeout: 60_000 }).toBe(decision.modelHash);

    // The late peer registers its session when its engine is ready, then loads the newest checkpoint
    // and replays the decisions since: its first round must end on the decided model hash, at most
    // one round after the round it registered in.
    await expect.poll(() => late.rounds.length, { timeout: 120_000 }).toBeGreaterThan(0);
    const first = late.rounds[0]!;
    const registered = await registrationsSince(hub, lateStart);
    expect(registered, 'the late peer registered one session').toHaveLength(1);
    const registeredIn = Math.floor(registered[0]!.height / BLOCKS_PER_ROUND);
    const firstDecision = (await decisions(hub)).get(first.round);
    console.log(
      `${elapsed()}: peer-late started ${((registered[0]!.timestamp - lateStart) / 1000).toFixed(1)} s before registering (in round ${registeredIn}); ` +
        `its first round was ${first.round}, reported ${((first.at - registered[0]!.timestamp) / 1000).toFixed(1)} s after registering, on ${first.modelHash.slice(0, 12)}… (${first.note ?? 'it trained and sent a payload'})`,
    );
    expect(first.round).toBeLessThanOrEqual(registeredIn + 1);
    expect(first.modelHash).toBe(firstDecision?.modelHash);
    await expect
      .poll(async () => (await pageRounds(pages[0]!)).find((r) => r.round === first.round)?.modelHash, { timeout: 60_000 })
      .toBe(first.modelHash);

    expect(errors).toEqual([]);
    console.log(`${elapsed()}: done`);
  } finally {
    await Promise.all(browsers.map((b) => b.close()));
    for (const peer of peers) peer.process.kill('SIGKILL');
    hub.stop();
  }
});
