// The browser verifies the run's chain itself: when what the hub serves has been altered (a
// decision's model hash inside a sealed block, or a block's header), the page refuses to join and
// says why, in an alert. The blocks are altered on their way to the page (Playwright rewrites the
// hub's /api/chain/blocks answers), exactly as a dishonest hub or a man in the middle would. It
// also holds the hub to the run's authority: the one its link names (#authority=…), else the one
// it saw at that origin first, so a hub that later shows another is refused.
import { expect, test, type Page } from '@playwright/test';
import { FAST_RUN, startHub, type HubProcess } from './fixtures/processes.ts';

let hub: HubProcess;

interface WireBlock {
  height: number;
  timestamp: number;
  extrinsics: { call: string; decision?: { decision: { modelHash: string } } }[];
}

test.beforeAll(async () => {
  // Every round is decided, with or without peers: wait for the first decision to be sealed.
  hub = await startHub({ args: [...FAST_RUN, '--take-all'] });
  await expect
    .poll(
      async () => {
        const { blocks } = (await (await fetch(`${hub.http}/api/chain/blocks?from=0`)).json()) as { blocks: WireBlock[] };
        return blocks.some((b) => b.extrinsics.some((x) => x.call === 'decision'));
      },
      { timeout: 90_000, intervals: [1_000] },
    )
    .toBe(true);
});
test.afterAll(() => hub?.stop());

/** Serves the hub's blocks from genesis on to the page with `alter` applied to them. */
async function alterBlocks(page: Page, alter: (blocks: WireBlock[]) => void): Promise<void> {
  await page.route('**/api/chain/blocks?*', async (route) => {
    const response = await route.fetch();
    const body = (await response.json()) as { blocks: WireBlock[] };
    if (new URL(route.request().url()).searchParams.get('from') === '0') alter(body.blocks);
    await route.fulfill({ response, json: body });
  });
}

async function joinWithBurner(page: Page): Promise<void> {
  await page.goto(hub.http);
  await expect(page.getByTestId('gpu-ready')).toBeVisible();
  await page.getByRole('button', { name: 'Use a burner key' }).click();
}

const flipLastHexDigit = (hex: string) => hex.slice(0, -1) + (hex.endsWith('0') ? '1' : '0');
/** A valid SS58 address that is not the hub's authority (Alice's, of the Substrate dev accounts). */
const ANOTHER_AUTHORITY = '5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY';

test('a decision altered inside a sealed block fails verification in the page', async ({ page }) => {
  await alterBlocks(page, (blocks) => {
    const decision = blocks.flatMap((b) => b.extrinsics).find((x) => x.call === 'decision')!.decision!.decision;
    decision.modelHash = flipLastHexDigit(decision.modelHash);
  });
  await joinWithBurner(page);
  const alert = page.getByTestId('swarm-error');
  await expect(alert).toHaveAttribute('role', 'alert');
  await expect(alert).toContainText("The run's chain failed verification at block");
  await expect(alert).toContainText('do not join it');
});

test('a block header altered on the way fails verification in the page', async ({ page }) => {
  await alterBlocks(page, (blocks) => {
    blocks[1]!.timestamp += 1;
  });
  await joinWithBurner(page);
  await expect(page.getByTestId('swarm-error')).toContainText("The run's chain failed verification at block 1");
});

test("a link naming another authority than the hub's is refused before anything is registered", async ({ page }) => {
  await page.goto(`${hub.http}/#authority=${ANOTHER_AUTHORITY}`);
  await expect(page.getByTestId('gpu-ready')).toBeVisible();
  await page.getByRole('button', { name: 'Use a burner key' }).click();
  const alert = page.getByTestId('swarm-error');
  await expect(alert).toContainText(`the page's link (#authority=…) pins the run's authority ${ANOTHER_AUTHORITY}`);
  await expect(alert).toContainText('refusing it');
});

test('the same chain, unaltered, verifies and the page registers its session on it; a hub there that later shows another authority is refused', async ({
  page,
}) => {
  await joinWithBurner(page);
  await expect(page.getByTestId('hotkey')).toBeVisible({ timeout: 60_000 });
  await expect(page.getByTestId('swarm-error')).toHaveCount(0);
  // The hub at this origin is replaced by one naming another authority; the reloaded tab rejoins by itself.
  await page.route('**/api/run', async (route) => {
    const response = await route.fetch();
    const json = (await response.json()) as { chain: { authority: string } };
    json.chain.authority = ANOTHER_AUTHORITY;
    await route.fulfill({ response, json });
  });
  await page.reload();
  await expect(page.getByTestId('swarm-error')).toContainText('what this browser saw at', { timeout: 30_000 });
});
