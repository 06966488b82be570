// A tab validates the run of the hub that served it, inside e2e/netns.sh's private network
// namespace: a `webloco hub` (with the Gauntlet, its default) and one `webloco peer` train; a
// headless Chromium opens the hub's page and clicks "Validate this run". Its worker judges every
// decided round's committed payloads on SwiftShader with evaluation seeds of its own, follows the
// chain's decision and checks the model hash it names. With one honest peer, a lone player of no
// rating game, each validator gathers it on its own evaluations alone: whether its last payload
// lowered the loss and beat that gain on its own data. The two validators evaluate on windows of
// their own seeds, so on a marginal payload their verdicts can differ; wherever they measured the
// same verdicts (the hub's published in GET /api/gauntlet/rounds/<r>), the tab must gather exactly
// what the chain decided.
import { chromium, expect, test, type Page } from '@playwright/test';
import { chromiumLaunchOptions } from '../src/cli/chromium.ts';
import { fetchJudgedRound } from '../src/run/hub-client.ts';
import { FAST_RUN, startHub, startPeer, type HubProcess, type PeerProcess } from './fixtures/processes.ts';

interface ValidatorRow {
  round: number;
  committed: number;
  decided: number;
  gathered: number;
  agrees: boolean;
  modelHash: string;
  modelHashMatches: boolean;
  /** The tab's verdicts on the peers it evaluated. */
  evaluated: Verdict[];
  /** The tab's rejections and its top hotkeys with their final scores, as the table shows them. */
  rejected: string;
  top: string;
}

/** A validator's verdict on one evaluated payload: did it lower the loss, did it beat that on its own data. */
interface Verdict {
  hotkey: string;
  gradientScore: number;
  binary: number;
}

const sameVerdict = (a: Verdict, b: Verdict) =>
  a.hotkey === b.hotkey && a.gradientScore >= 0 === b.gradientScore >= 0 && a.binary === b.binary;
const showVerdicts = (vs: Verdict[]) =>
  vs.map((v) => `${v.hotkey.slice(0, 8)}… loss ${(-v.gradientScore * 100).toFixed(4)}%, binary ${v.binary}`).join('; ') || 'none';

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
      evaluated: [...row.querySelectorAll('[data-testid="validator-evaluated"] [data-hotkey]')].map((e) => ({
        hotkey: e.getAttribute('data-hotkey')!,
        gradientScore: Number(e.getAttribute('data-gradient-score')),
        binary: Number(e.getAttribute('data-binary')),
      })),
      rejected: row.children[7]?.textContent ?? '',
      top: row.children[8]?.textContent ?? '',
    })),
  );
}

/** The hub's Gauntlet's verdicts in round r, as it published them. */
async function hubVerdicts(hub: HubProcess, round: number): Promise<Verdict[]> {
  const { record } = await fetchJudgedRound(hub.http, round);
  return record.scores.flatMap(({ hotkey, evaluated, gradientScore, binary }) =>
    evaluated && gradientScore !== undefined && binary !== undefined ? [{ hotkey, gradientScore, binary }] : [],
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
    // Whether the two validators measured the same verdicts in every round up to this one: their
    // standings, and so their gather sets, are then the same.
    let sameSoFar = true;
    let agreedOnPayload = 0;
    for (const row of rows) {
      const hubSaw = await hubVerdicts(hub, row.round);
      sameSoFar &&= hubSaw.length === row.evaluated.length && hubSaw.every((v, i) => sameVerdict(v, row.evaluated[i]!));
      console.log(
        `round ${row.round}: committed ${row.committed}, decided ${row.decided}, gathered ${row.gathered}, agrees ${row.agrees}, model ${row.modelHash.slice(0, 12)}… ${row.modelHashMatches ? 'as decided' : 'NOT as decided'}; ` +
          `the tab measured ${showVerdicts(row.evaluated)}, the hub ${showVerdicts(hubSaw)}${sameSoFar ? '' : ' (their verdicts have differed)'}; rejected: ${row.rejected}; top: ${row.top}`,
      );
      expect(row.modelHashMatches, `round ${row.round}: the decided model hash`).toBe(true);
      expect(row.modelHash, `round ${row.round}: the chain's decision`).toBe(decided.get(row.round));
      if (sameSoFar) expect(row.agrees, `round ${row.round}: the same verdicts, the tab's gather set is the chain's decision`).toBe(true);
      if (row.agrees && row.decided > 0) agreedOnPayload++;
    }
    expect(agreedOnPayload, "rounds in which the tab gathered the decision's payload").toBeGreaterThan(0);
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
