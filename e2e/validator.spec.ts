// A tab validates the run of the hub that served it, inside e2e/netns.sh's private network
// namespace: a `webloco hub` (with the Gauntlet, its default) and one `webloco peer` train; a
// headless Chromium opens the hub's page and clicks "Validate this run". Its worker judges every
// decided round's committed payloads on SwiftShader with evaluation seeds of its own, follows the
// chain's decision and checks the model hash it names. With one honest peer the tab's Gauntlet
// must gather exactly what the hub's did: a lone peer plays no rating game, so its place in the
// gather set does not depend on which sequences either validator happened to evaluate it on.
import { chromium, expect, test, type Page } from '@playwright/test';
import { chromiumLaunchOptions } from '../src/cli/chromium.ts';
import { FAST_RUN, startHub, startPeer, type HubProcess, type PeerProcess } from './fixtures/processes.ts';

interface ValidatorRow {
  round: number;
  committed: number;
  decided: number;
  gathered: number;
  agrees: boolean;
  modelHash: string;
  modelHashMatches: boolean;
}

async function validatorRows(page: Page): Promise<ValidatorRow[]> {
  return page.getByTestId('validator-round-row').evaluateAll((rows) =>
    rows.map((row) => ({
      round: Number(row.getAttribute('data-round')),
      committed: Number(row.getAttribute('data-committed')),
      decided: Number(row.getAttribute('data-decided')),
      gathered: Number(row.getAttribute('data-gathered')),
      agrees: row.getAttribute('data-agrees') === 'true',
      modelHash: row.getAttribute('data-model-hash')!,
      modelHashMatches: row.getAttribute('data-model-hash-matches') === 'true',
    })),
  );
}

/** The model hash of every decision on the hub's chain, by round. */
async function decidedModelHashes(hub: HubProcess): Promise<Map<number, string>> {
  const found = new Map<number, string>();
  for (let from = 0; ; from += 1000) {
    const { blocks } = (await (await fetch(`${hub.http}/api/chain/blocks?from=${from}&limit=1000`)).json()) as {
      blocks: { extrinsics: { call: string; decision?: { decision: { round: number; modelHash: string } } }[] }[];
    };
    for (const block of blocks)
      for (const x of block.extrinsics)
        if (x.call === 'decision') found.set(x.decision!.decision.round, x.decision!.decision.modelHash.replace(/^0x/, ''));
    if (blocks.length < 1000) return found;
  }
}

test("a tab validating its hub's run gathers what the chain decided and reaches the decided model hash", async () => {
  test.setTimeout(240_000);
  const started = Date.now();
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;
  const hub = await startHub({ args: FAST_RUN });
  const peers: PeerProcess[] = [startPeer('peer-a', hub.http, 8)];
  const browser = await chromium.launch(chromiumLaunchOptions({ webgpu: true }));
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(hub.http);
    await expect(page.getByTestId('gpu-ready')).toBeVisible();
    await page.getByRole('button', { name: 'Validate this run' }).click();
    await expect(page.getByTestId('validator')).toHaveAttribute('data-phase', 'validating', { timeout: 120_000 });
    // Joining the swarm is refused while the tab validates.
    await expect(page.getByRole('button', { name: 'Use a burner key' })).toBeDisabled();
    console.log(`${elapsed()}: ${await page.getByTestId('validator-status').textContent()}`);

    // Two rounds with committed payloads, judged by the tab.
    const withPayloads = async () => (await validatorRows(page)).filter((r) => r.committed > 0);
    await expect
      .poll(
        async () => {
          const [error] = await page.getByTestId('validator-error').allTextContents();
          if (error) throw new Error(`the tab's validator stopped: ${error}`);
          return (await withPayloads()).length;
        },
        { timeout: 200_000, intervals: [1000] },
      )
      .toBeGreaterThanOrEqual(2);

    const rows = await validatorRows(page);
    const decided = await decidedModelHashes(hub);
    for (const row of rows) {
      console.log(
        `round ${row.round}: committed ${row.committed}, decided ${row.decided}, gathered ${row.gathered}, agrees ${row.agrees}, model ${row.modelHash.slice(0, 12)}… ${row.modelHashMatches ? 'as decided' : 'NOT as decided'}`,
      );
      expect(row.modelHashMatches, `round ${row.round}: the decided model hash`).toBe(true);
      expect(row.modelHash, `round ${row.round}: the chain's decision`).toBe(decided.get(row.round));
    }
    for (const row of await withPayloads()) {
      expect(row.decided, `round ${row.round}: the hub's Gauntlet gathered the honest peer`).toBeGreaterThan(0);
      expect(row.agrees, `round ${row.round}: the tab's gather set is the chain's decision`).toBe(true);
    }
    await expect(page.getByTestId('validator-error')).toHaveCount(0);
    expect(errors).toEqual([]);

    await page.getByRole('button', { name: 'Stop validating' }).click();
    await expect(page.getByTestId('validator')).toHaveAttribute('data-phase', 'stopped', { timeout: 60_000 });
    await expect(page.getByRole('button', { name: 'Use a burner key' })).toBeEnabled();
    console.log(`${elapsed()}: done`);
  } finally {
    await browser.close();
    for (const peer of peers) peer.process.kill('SIGKILL');
    hub.stop();
  }
});
