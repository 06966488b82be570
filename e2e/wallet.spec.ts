// Identity end to end, against a real `webloco hub` (its dev chain verifies every binding): what
// the page must refuse, each with a message a person can read:
//   (a) a tampered binding: the wallet signs other bytes than it was shown;
//   (b) an expired binding: the tab's clock is 13 hours behind, so the binding it signs expired
//       before the hub sees it.
// Plus: with no wallet installed, the page says what to install and offers the burner key. The
// wallet's happy path (one prompt, the binding on chain, session-signed payloads in a decision,
// replays and forged announcements refused) runs in volunteer.spec.ts.
import { expect, test, type Page } from '@playwright/test';
import { metagraph as chainMetagraph } from './fixtures/chain-api.ts';
import { FAST_RUN, startHub, type HubProcess } from './fixtures/processes.ts';
import { installTestWallet } from './fixtures/test-wallet.ts';

let hub: HubProcess;

test.beforeAll(async () => {
  hub = await startHub({ args: [...FAST_RUN, '--take-all'] }); // identity, not scoring, is under test
});
test.afterAll(() => hub?.stop());

const metagraph = () => chainMetagraph(hub.http);

async function openApp(page: Page): Promise<void> {
  await page.goto(hub.http);
  await expect(page.getByTestId('swarm')).toBeVisible();
  await expect(page.getByTestId('gpu-ready')).toBeVisible();
}

async function connectAndJoin(page: Page, address: string): Promise<void> {
  await page.getByRole('button', { name: 'Connect wallet' }).click();
  const picker = page.getByLabel('Account');
  await expect(picker).toBeVisible();
  await expect(picker.locator('option')).toHaveCount(1);
  await expect(picker.locator('option').first()).toHaveAttribute('value', address);
  await page.getByRole('button', { name: 'Join with this account' }).click();
}

test('with no wallet installed the page says what to install and offers the burner key', async ({ page }) => {
  await openApp(page);
  await page.getByRole('button', { name: 'Connect wallet' }).click();
  const alert = page.getByTestId('wallet-error');
  await expect(alert).toHaveAttribute('role', 'alert');
  await expect(alert).toContainText('No Polkadot/Bittensor wallet extension found');
  await expect(alert).toContainText('burner key');
  await expect(page.getByRole('button', { name: 'Use a burner key' })).toBeEnabled();
  await expect(page.getByText('Burner key (demo only')).toBeVisible();
});

test('(a) a binding whose signature does not match it is refused, and the page says why', async ({ page }) => {
  const wallet = await installTestWallet(page, '//WebLoCoTampered');
  wallet.mode = 'tamper';
  await openApp(page);
  await connectAndJoin(page, wallet.address);
  const alert = page.getByTestId('swarm-error');
  await expect(alert).toHaveAttribute('role', 'alert');
  await expect(alert).toContainText('refused this session (bad-signature)');
  await expect(alert).toContainText(`not signed by its hotkey ${wallet.address}`);
  await expect(page.getByTestId('swarm')).toHaveAttribute('data-phase', 'error');
  expect((await metagraph()).some((n) => n.hotkey === wallet.address)).toBe(false);
  // The participant can try again: the join card is back.
  await expect(page.getByRole('button', { name: 'Use a burner key' })).toBeEnabled();
  console.log(`(a) tampered binding → ${await alert.textContent()}`);
});

test('(b) a binding that expired before it reached the hub is refused, and the page says why', async ({ page }) => {
  // The tab's clock runs 13 hours behind: the 12-hour binding it signs has expired in the chain's time.
  await page.clock.install({ time: Date.now() - 13 * 3600_000 });
  const wallet = await installTestWallet(page, '//WebLoCoLate');
  await openApp(page);
  await connectAndJoin(page, wallet.address);
  const alert = page.getByTestId('swarm-error');
  await expect(alert).toContainText('refused this session (expired)');
  await expect(alert).toContainText('sign a new binding');
  await expect(alert).toContainText('clock');
  expect((await metagraph()).some((n) => n.hotkey === wallet.address)).toBe(false);
  console.log(`(b) expired binding → ${await alert.textContent()}`);
});
