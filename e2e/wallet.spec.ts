// Identity end to end, against a real `webloco hub` (its dev chain verifies every binding and
// announcement): the app connects a wallet extension (the injected test wallet of
// fixtures/test-wallet.ts, so the app's real @polkadot/extension-dapp path runs), the binding it
// signs registers on the hub's chain, and the tab's session-signed announcements are committed and
// make it into a decision. Then what must be refused, each with a message a person can read:
//   (a) a tampered binding: through the page (the wallet signs other bytes than it was shown);
//   (b) an expired binding: through the page (its clock is 13 hours behind, so the binding it
//       signs expired before the hub sees it);
//   (c) a replayed binding and (d) an announcement signed by the wrong key: the page has no way
//       to send either, so the test submits them to POST /api/chain/extrinsics, the endpoint the
//       page's HttpChain uses, and checks the JSON error the page would show.
// Plus: with no wallet installed, the page says what to install and offers the burner key.
import { Keyring } from '@polkadot/keyring';
import { cryptoWaitReady } from '@polkadot/util-crypto';
import { expect, test, type Page } from '@playwright/test';
import { canonicalBytes } from '../src/identity/canonical.ts';
import { ANNOUNCEMENT_KIND, type Announcement } from '../src/identity/announcement.ts';
import type { SignedBinding } from '../src/identity/binding.ts';
import { u8aToHex } from '@polkadot/util';
import { FAST_RUN, startHub, type HubProcess } from './fixtures/processes.ts';
import { installTestWallet, TEST_WALLET_NAME } from './fixtures/test-wallet.ts';

let hub: HubProcess;

test.beforeAll(async () => {
  hub = await startHub({ args: [...FAST_RUN, '--take-all'] }); // identity, not scoring, is under test
});
test.afterAll(() => hub?.stop());

interface MetagraphNeuron {
  hotkey: string;
  bindingId: string;
  binding: SignedBinding;
}

async function metagraph(): Promise<MetagraphNeuron[]> {
  const response = await fetch(`${hub.http}/api/chain/metagraph`);
  return ((await response.json()) as { neurons: MetagraphNeuron[] }).neurons;
}

async function submit(extrinsic: unknown): Promise<{ status: number; json: { error?: { code: string; message: string } } }> {
  const response = await fetch(`${hub.http}/api/chain/extrinsics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(extrinsic) });
  return { status: response.status, json: (await response.json()) as { error?: { code: string; message: string } } };
}

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

test('the injected wallet signs the binding once; it verifies on the hub and the session-signed payloads are accepted', async ({ page }) => {
  test.setTimeout(240_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const wallet = await installTestWallet(page);
  await openApp(page);
  await connectAndJoin(page, wallet.address);

  const panel = page.getByTestId('swarm');
  await expect(panel).toHaveAttribute('data-phase', 'joined', { timeout: 120_000 });
  await expect(page.getByTestId('hotkey')).toHaveText(wallet.address);
  await expect(page.getByTestId('hotkey-label')).toContainText(TEST_WALLET_NAME);
  // One wallet prompt for the whole session, for raw bytes: the binding's canonical JSON.
  expect(wallet.requests).toHaveLength(1);
  const neuron = (await metagraph()).find((n) => n.hotkey === wallet.address);
  expect(neuron, 'the hub\'s metagraph lists the wallet\'s hotkey').toBeDefined();
  expect(wallet.requests[0]!.data).toBe(u8aToHex(canonicalBytes(neuron!.binding.binding)));
  expect(neuron!.binding.binding.burner).toBe(false);

  // The tab joined a run in progress: after its null rounds it sends a payload, signed by the
  // session key (no more wallet prompts), which the chain accepts and the decision includes.
  const included = page.locator('[data-testid="swarm-round-row"][data-included="true"]');
  await expect(included.first()).toBeVisible({ timeout: 180_000 });
  const row = included.first();
  const round = Number(await row.getAttribute('data-round'));
  const payloadHash = await row.getAttribute('data-payload-hash');
  const blocks = (await (await fetch(`${hub.http}/api/chain/blocks?from=0&limit=1000`)).json()) as { blocks: { extrinsics: { call: string; commit?: { announcement: Announcement } }[] }[] };
  const commits = blocks.blocks.flatMap((b) => b.extrinsics).filter((x) => x.call === 'commit' && x.commit!.announcement.binding === neuron!.bindingId);
  expect(commits.map((c) => [c.commit!.announcement.round, c.commit!.announcement.payloadHash])).toContainEqual([round, `0x${payloadHash}`]);
  expect(wallet.requests).toHaveLength(1);
  console.log(`wallet session: binding ${neuron!.bindingId.slice(0, 12)}…, ${commits.length} commit(s) accepted, payload of round ${round} included`);

  // (c) The same signed binding again: a replay, refused.
  const replay = await submit({ call: 'register', binding: neuron!.binding });
  expect(replay.status).toBe(400);
  expect(replay.json.error).toMatchObject({ code: 'already-registered' });
  expect(replay.json.error!.message).toContain('already registered');
  console.log(`(c) replayed binding → ${replay.json.error!.code}: ${replay.json.error!.message}`);

  // (d) An announcement naming this session's binding, signed by another key: refused.
  await cryptoWaitReady();
  const head = (await (await fetch(`${hub.http}/api/chain/head`)).json()) as { round: number };
  const impostor = new Keyring({ type: 'sr25519' }).addFromUri('//Impostor');
  const forged: Announcement = {
    kind: ANNOUNCEMENT_KIND,
    run: hub.runId,
    round: head.round,
    binding: neuron!.bindingId as `0x${string}`,
    baseModelHash: `0x${'11'.repeat(32)}`,
    payloadHash: `0x${'22'.repeat(32)}`,
    bytes: 3000,
    nonce: 1_000,
  };
  const wrongKey = await submit({ call: 'commit', commit: { announcement: forged, signature: u8aToHex(impostor.sign(canonicalBytes(forged))) } });
  expect(wrongKey.status).toBe(400);
  expect(wrongKey.json.error).toMatchObject({ code: 'bad-signature' });
  expect(wrongKey.json.error!.message).toContain('not signed by the session key');
  console.log(`(d) announcement signed by the wrong key → ${wrongKey.json.error!.code}: ${wrongKey.json.error!.message}`);

  await page.getByRole('button', { name: 'Leave the swarm' }).click();
  await expect(panel).toHaveAttribute('data-phase', 'left');
  expect(errors).toEqual([]);
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
