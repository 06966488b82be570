// A volunteer's first minutes, against a real `webloco hub` with its Gauntlet: the landing page
// measures the GPU and recommends a preset; the volunteer connects the (injected) test wallet,
// joins, watches the loss fall and a round complete with a receipt; pausing stops the GPU's steps
// and resuming continues from the next one; a reload resumes the same session (binding) with the
// same error feedback (by hash) from the tab's saved state, still paused as its person left it,
// and once they resume its payloads are accepted again.
// Identity on the way: the wallet is asked once, for exactly the binding's canonical bytes, which
// the hub's chain holds; the session-signed commits are on chain; and what the page has no way to
// send is refused through POST /api/chain/extrinsics (the endpoint the page's HttpChain uses) with
// the JSON error the page would show: (c) a replayed binding, (d) an announcement signed by a key
// other than the session's.
// The saved checkpoint downloads as safetensors that `webloco eval` reads to the same model hash.
// Screenshots of the landing page and the dashboard at desktop and phone widths go to
// test-results/screenshots/, and axe finds no serious or critical violation on either.
import { execFileSync } from 'node:child_process';
import { Keyring } from '@polkadot/keyring';
import { u8aToHex } from '@polkadot/util';
import { cryptoWaitReady } from '@polkadot/util-crypto';
import { expect, test, type Page } from '@playwright/test';
import { ANNOUNCEMENT_KIND, type Announcement } from '../src/identity/announcement.ts';
import { canonicalBytes } from '../src/identity/canonical.ts';
import { commitsOf, metagraph, submit } from './fixtures/chain-api.ts';
import { FAST_RUN, startHub, type HubProcess } from './fixtures/processes.ts';
import { DESKTOP, expectAccessible, screenshots } from './fixtures/screens.ts';
import { installTestWallet, TEST_WALLET_NAME } from './fixtures/test-wallet.ts';
import { holdsFor, steady } from './fixtures/wait.ts';
import { setHidden } from './fixtures/visibility.ts';

let hub: HubProcess;

test.beforeAll(async () => {
  // Checkpoints only at round 0: a reloaded tab's own saved θ is then always the newer one.
  hub = await startHub({ args: [...FAST_RUN, '--checkpoint-every', '1000'] });
});
test.afterAll(() => hub?.stop());

/** A loss series' first and last values, as the chart's accessible summary states them. */
async function chartSeries(
  page: Page,
  series = 'training loss',
): Promise<{ first: number; last: number; firstStep: number; lastStep: number; count: number } | null> {
  const label = (await page.getByTestId('loss-chart').getByRole('img').getAttribute('aria-label')) ?? '';
  const m = label.match(new RegExp(`${series}: ([\\d.]+) at step (\\d+), ([\\d.]+) at step (\\d+) \\((\\d+) values\\)`));
  return m ? { first: Number(m[1]), firstStep: Number(m[2]), last: Number(m[3]), lastStep: Number(m[4]), count: Number(m[5]) } : null;
}

const stepOf = async (page: Page) => Number(await page.getByTestId('swarm-status').getAttribute('data-step'));

test('a volunteer joins with a wallet, sees the loss fall and a round complete, pauses, resumes, and a reload resumes the session', async ({
  page,
}) => {
  test.setTimeout(480_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.setViewportSize(DESKTOP);
  const wallet = await installTestWallet(page, '//WebLoCoVolunteer');

  // Landing: the GPU card with the capability check.
  await page.goto(hub.http);
  await expect(page.getByTestId('gpu-ready')).toBeVisible();
  const capability = page.getByTestId('capability');
  await expect(capability).toHaveAttribute('data-status', 'done', { timeout: 60_000 });
  await expect(page.getByTestId('recommended-preset')).not.toBeEmpty();
  await expect(page.getByTestId('run-fit')).toHaveAttribute('data-fits', 'true');
  await expect(page.getByTestId('run-fit')).toContainText(/tokens\/s/);
  await screenshots(page, 'landing');
  await expectAccessible(page, 'landing page');

  // Join with the wallet's account.
  await page.getByRole('button', { name: 'Connect wallet' }).click();
  await expect(page.getByLabel('Account').locator('option')).toHaveCount(1);
  await page.getByRole('button', { name: 'Join with this account' }).click();
  const panel = page.getByTestId('swarm');
  await expect(panel).toHaveAttribute('data-phase', 'joined', { timeout: 120_000 });
  await expect(page.getByTestId('hotkey')).toHaveText(wallet.address);
  await expect(page.getByTestId('hotkey-label')).toContainText(TEST_WALLET_NAME);
  // One wallet prompt for the whole session, for raw bytes: the binding's canonical JSON.
  expect(wallet.requests).toHaveLength(1);
  const neuron = (await metagraph(hub.http)).find((n) => n.hotkey === wallet.address);
  expect(neuron, "the hub's metagraph lists the wallet's hotkey").toBeDefined();
  expect(wallet.requests[0]!.data).toBe(u8aToHex(canonicalBytes(neuron!.binding.binding)));
  expect(neuron!.binding.binding.burner).toBe(false);

  // A round completes: its receipt, and θ and e saved after it. The loss falls.
  const firstRound = page.getByTestId('swarm-round-row').first();
  await expect(firstRound).toBeVisible({ timeout: 180_000 });
  await expect(page.getByTestId('error-feedback-hash')).toBeVisible({ timeout: 60_000 });
  await expect(page.getByTestId('round-timeline')).toBeVisible();
  // The swarm's model, evaluated on the same held-out batches after each round, gets better.
  await expect
    .poll(
      async () => {
        const heldOut = await chartSeries(page, 'held-out loss');
        return heldOut !== null && heldOut.count >= 3 && heldOut.last < heldOut.first;
      },
      { timeout: 240_000 },
    )
    .toBe(true);
  const heldOut = (await chartSeries(page, 'held-out loss'))!;
  const loss = (await chartSeries(page))!;
  console.log(
    `held-out loss ${heldOut.first} → ${heldOut.last} over ${heldOut.count} rounds; training loss ${loss.first} → ${loss.last} over ${loss.count} steps`,
  );
  await expect(page.getByTestId('held-out-loss')).not.toHaveText('–');
  // After its null rounds the tab sends a payload signed by the session key (no more wallet
  // prompts); the chain holds the commit and the decision includes it.
  const included = page.locator('[data-testid="swarm-round-row"][data-included="true"]').first();
  await expect(included).toBeVisible({ timeout: 180_000 });
  const includedRound = Number(await included.getAttribute('data-round'));
  expect(await commitsOf(hub.http, neuron!.bindingId)).toContainEqual([
    includedRound,
    `0x${await included.getAttribute('data-payload-hash')}`,
  ]);
  await expect(page.getByTestId('leaderboard')).toBeVisible();

  // (c) The same signed binding again: a replay, refused.
  const replay = await submit(hub.http, { call: 'register', binding: neuron!.binding });
  expect(replay.status).toBe(400);
  expect(replay.json.error).toMatchObject({ code: 'already-registered' });
  expect(replay.json.error!.message).toContain('already registered');
  console.log(`(c) replayed binding → ${replay.json.error!.code}: ${replay.json.error!.message}`);
  // (d) An announcement naming this session's binding, signed by another key: refused.
  await cryptoWaitReady();
  const head = (await (await fetch(`${hub.http}/api/chain/head`)).json()) as { round: number };
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
  const impostor = new Keyring({ type: 'sr25519' }).addFromUri('//Impostor');
  const wrongKey = await submit(hub.http, {
    call: 'commit',
    commit: { announcement: forged, signature: u8aToHex(impostor.sign(canonicalBytes(forged))) },
  });
  expect(wrongKey.status).toBe(400);
  expect(wrongKey.json.error).toMatchObject({ code: 'bad-signature' });
  expect(wrongKey.json.error!.message).toContain('not signed by the session key');
  console.log(`(d) announcement signed by the wrong key → ${wrongKey.json.error!.code}: ${wrongKey.json.error!.message}`);
  // The saved θ downloads as safetensors that Node reads back to the same model hash.
  const savedHash = await page.getByTestId('download-checkpoint').getAttribute('data-model-hash');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-checkpoint').click()]);
  expect(download.suggestedFilename()).toMatch(/\.safetensors$/);
  const file = test.info().outputPath('swarm-checkpoint.safetensors');
  await download.saveAs(file);
  const evaluated = JSON.parse(
    execFileSync(process.execPath, ['bin/webloco.mjs', 'eval', '--checkpoint', file], { encoding: 'utf8' }).trim().split('\n').at(-1)!,
  ) as { modelHash: string; heldOutLoss: number };
  expect(evaluated.modelHash).toBe(savedHash);
  console.log(`downloaded checkpoint: model ${evaluated.modelHash.slice(0, 12)}…, held-out loss in Node ${evaluated.heldOutLoss}`);
  await screenshots(page, 'dashboard');
  await expectAccessible(page, 'dashboard');

  // Pause: no new steps, not even across a round boundary; resume continues with the next step.
  await page.getByRole('button', { name: 'Pause training' }).click();
  await expect(page.getByTestId('swarm-status')).toHaveAttribute('data-paused', 'true');
  // A step already running on the GPU finishes: the counter stops (3 s is several tiny steps).
  const pausedAt = await steady('the step counter after pausing', 3_000, () => stepOf(page));
  const roundAtPause = Number(await page.getByTestId('swarm-round').textContent());
  // The window is the point: longer than a round (20 blocks of 500 ms), watched throughout.
  await holdsFor('no inner step while paused', 12_000, async () => (await stepOf(page)) === pausedAt);
  const errorFeedback = await page.getByTestId('error-feedback-hash').getAttribute('data-hash');
  const bindingId = await page.getByTestId('binding-id').getAttribute('data-binding-id');
  console.log(`paused at step ${pausedAt} in round ${roundAtPause}; 12 s later still step ${await stepOf(page)}`);
  await page.getByRole('button', { name: 'Resume training' }).click();
  await expect.poll(() => stepOf(page), { timeout: 60_000 }).toBeGreaterThan(pausedAt);
  // Every step this tab took, before and after the pause, is one of an unbroken sequence.
  const steps = (await chartSeries(page))!;
  expect(steps.lastStep - steps.firstStep + 1, 'the step after resuming is the next one: none lost, none repeated').toBe(steps.count);

  // With "pause while hidden" on, hiding the tab pauses it and showing it again resumes it.
  await page.getByLabel('Pause while this tab is hidden').check();
  await setHidden(page, true);
  await expect(page.getByTestId('swarm-status')).toHaveAttribute('data-paused', 'true');
  await setHidden(page, false);
  await expect(page.getByTestId('swarm-status')).toHaveAttribute('data-paused', 'false');

  // Reload while paused mid-round (e is then exactly the saved one): the tab resumes by itself with
  // the same binding and the error feedback it saved, still paused (the person's pause survives a
  // reload); once they resume, the chain takes its payloads again.
  await page.getByRole('button', { name: 'Pause training' }).click();
  await expect(page.getByTestId('swarm-status')).toHaveAttribute('data-paused', 'true');
  // Idle: the step in flight has finished and nothing is being saved (3 s is several tiny steps).
  await steady('the step and the saved error feedback after pausing', 3_000, async () => [
    await stepOf(page),
    await page.getByTestId('error-feedback-hash').getAttribute('data-hash'),
  ]);
  const savedErrorFeedback = await page.getByTestId('error-feedback-hash').getAttribute('data-hash');
  // How long a reload takes to be back in the run, and where the time goes (printed, not asserted).
  const reloaded = Date.now();
  const phases: string[] = [];
  const seen = new Set<string>();
  await page.reload();
  await expect
    .poll(
      async () => {
        const text = (await panel.textContent().catch(() => '')) ?? '';
        const joining = /Joining: ([^…]+)…/.exec(text)?.[1];
        if (joining && !seen.has(joining)) {
          seen.add(joining);
          phases.push(`${((Date.now() - reloaded) / 1000).toFixed(1)} s ${joining}`);
        }
        return panel.getAttribute('data-phase').catch(() => null);
      },
      { timeout: 120_000, intervals: [100] },
    )
    .toBe('joined');
  const rejoinedAfter = (Date.now() - reloaded) / 1000;
  const resumed = page.getByTestId('resumed');
  await expect(resumed).toHaveAttribute('data-error-feedback-hash', savedErrorFeedback!);
  await expect(resumed).toHaveAttribute('data-source', 'local');
  await expect(page.getByTestId('binding-id')).toHaveAttribute('data-binding-id', bindingId!);
  expect(wallet.requests, 'no second wallet prompt: the saved session was resumed').toHaveLength(1);
  console.log(
    `reloaded: binding ${bindingId!.slice(0, 12)}…, error feedback ${savedErrorFeedback!.slice(0, 12)}… (before the second pause ${errorFeedback!.slice(0, 12)}…)`,
  );
  await expect(page.getByTestId('swarm-status')).toHaveAttribute('data-paused', 'true');
  await expect(page.getByTestId('controls')).toHaveAttribute('data-reasons', 'person');
  const stepAtReload = await stepOf(page);
  const resumedAt = Date.now();
  await page.getByRole('button', { name: 'Resume training' }).click();
  await expect(page.getByTestId('swarm-status')).toHaveAttribute('data-paused', 'false');
  await expect.poll(() => stepOf(page), { timeout: 120_000, intervals: [100] }).toBeGreaterThan(stepAtReload);
  console.log(
    `RELOAD: back in the run ${rejoinedAfter.toFixed(1)} s after the reload (${phases.join('; ')}), ` +
      `its first inner step ${((Date.now() - resumedAt) / 1000).toFixed(1)} s after resuming`,
  );
  await expect(page.locator('[data-testid="swarm-round-row"][data-included="true"]').first()).toBeVisible({ timeout: 180_000 });

  await page.getByRole('button', { name: 'Leave the swarm' }).click();
  await expect(panel).toHaveAttribute('data-phase', 'left');
  expect(errors).toEqual([]);
});
