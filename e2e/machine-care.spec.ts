// The volunteer's machine comes first, against a real `webloco hub`: a tab that joined with a
// burner key pauses by itself on battery (a fake Battery Status API the test unplugs and plugs in)
// within one inner step and resumes on charge; at 'critical' CPU pressure (DevTools' pressure
// override) it pauses, at 'serious' the duty cycle it gives the worker halves; in idle-only mode
// it trains only while DevTools' idle override says the person is away, or, without the idle
// detection permission, while the tab is hidden. The intensity preset survives a reload, and the
// person's own pause survives the battery charging.
// Data caps, on the same hub: a daily upload cap smaller than one payload stops the tab's exchange
// once its payload is uploaded (paused for `cap`, the dashboard and the wall say so, no step, commit
// or byte more through a whole round); the cap and the count survive a reload, which does not
// rejoin; when the local day turns (Playwright's clock moved to the midnight the page names) the
// tab rejoins with the θ and error feedback it stopped with (by hash) and exchanges again. The
// dashboard at the cap is screenshotted at desktop and phone widths (test-results/screenshots/
// data-cap-*.png), and axe finds no serious or critical violation on it.
import { expect, test, type Page } from '@playwright/test';
import { chromiumLaunchOptions } from '../src/cli/chromium.ts';
import { commitsOf } from './fixtures/chain-api.ts';
import { FAST_RUN, startHub, type HubProcess } from './fixtures/processes.ts';
import { expectAccessible, screenshots } from './fixtures/screens.ts';
import { holdsFor, steady } from './fixtures/wait.ts';
import type { WallView } from '../src/run/api.ts';
import { setHidden } from './fixtures/visibility.ts';

// The API the other specs turn off; here DevTools' override sets what it reports.
test.use({ launchOptions: chromiumLaunchOptions({ webgpu: true, computePressure: true }) });

let hub: HubProcess;

test.beforeAll(async () => {
  // Six inner steps a round rather than FAST_RUN's two, so that a pause lands between steps of a
  // round. Checkpoints only at round 0: a tab rejoining resumes from its own saved θ.
  hub = await startHub({ args: [...FAST_RUN, '--inner-steps', '6', '--checkpoint-every', '1000'] });
});
test.afterAll(() => hub?.stop());

declare global {
  interface Window {
    /** Set by the init script below: plugs the fake battery in (true) or out (false). */
    setCharging?: (charging: boolean) => void;
  }
}

/** A Battery Status API whose charging state the test sets: plugged in to start with. */
async function installFakeBattery(page: Page): Promise<void> {
  await page.addInitScript(() => {
    let charging = true;
    const battery = new EventTarget();
    Object.defineProperties(battery, {
      charging: { get: () => charging },
      level: { get: () => 0.5 },
    });
    Object.defineProperty(Navigator.prototype, 'getBattery', { value: () => Promise.resolve(battery), configurable: true });
    window.setCharging = (c: boolean) => {
      charging = c;
      battery.dispatchEvent(new Event('chargingchange'));
    };
  });
}

const stepOf = async (page: Page) => Number((await page.getByTestId('swarm-status').getAttribute('data-step')) || 0);
const paused = (page: Page) => page.getByTestId('swarm-status');
const controls = (page: Page) => page.getByTestId('controls');

/** The step counter once it has stopped (a step already on the GPU finishes); 3 s is several tiny steps. */
const stoppedAt = (page: Page, what: string) => steady(what, 3_000, () => stepOf(page));
const wallStatus = async () => ((await (await fetch(`${hub.http}/api/wall`)).json()) as WallView).peers[0]?.status;

test('the tab pauses on battery, at critical pressure and while the person is present in idle-only mode; serious pressure halves its intensity', async ({
  page,
  browser,
}) => {
  test.setTimeout(300_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await installFakeBattery(page);
  const cdp = await page.context().newCDPSession(page);
  // The Compute Pressure API reports to a focused page only.
  await cdp.send('Emulation.setFocusEmulationEnabled', { enabled: true });
  await cdp.send('Emulation.setPressureSourceOverrideEnabled', { enabled: true, source: 'cpu' });
  await cdp.send('Emulation.setPressureStateOverride', { source: 'cpu', state: 'nominal' });
  await cdp.send('Emulation.setIdleOverride', { isUserActive: true, isScreenUnlocked: true });
  // Playwright's grantPermissions has no name for idle detection: DevTools grants it to this page's context.
  const { targetInfo } = await cdp.send('Target.getTargetInfo');
  const browserCdp = await browser.newBrowserCDPSession();
  await browserCdp.send('Browser.grantPermissions', {
    origin: new URL(hub.http).origin,
    permissions: ['idleDetection'],
    browserContextId: targetInfo.browserContextId!,
  });

  // Before joining: the preset and the settings survive a reload.
  await page.goto(hub.http);
  await expect(controls(page)).toHaveAttribute('data-power', 'charging');
  await expect(controls(page)).toHaveAttribute('data-pressure', 'nominal');
  await expect(page.getByLabel('Train on battery too')).not.toBeChecked();
  await page.getByRole('radio', { name: /^Balanced/ }).check();
  await expect(controls(page)).toHaveAttribute('data-duty', '0.6');
  await page.reload();
  await expect(page.getByRole('radio', { name: /^Balanced/ })).toBeChecked();
  await expect(controls(page)).toHaveAttribute('data-duty', '0.6');
  await page.getByRole('radio', { name: /^Full/ }).check();
  await expect(controls(page)).toHaveAttribute('data-duty', '1');

  await page.getByRole('button', { name: 'Use a burner key' }).click();
  await expect(page.getByTestId('swarm')).toHaveAttribute('data-phase', 'joined', { timeout: 120_000 });
  await expect.poll(() => stepOf(page), { timeout: 120_000 }).toBeGreaterThan(0);

  // On battery: paused within one inner step, and still paused through a whole round (10 s).
  // The step shown and the unplugging in one go, in the page: a round trip between them would be
  // time for another tiny step (about 0.1 s each on SwiftShader) on a busy machine.
  const beforeUnplug = await page.evaluate(() => {
    const step = Number(document.querySelector('[data-testid="swarm-status"]')!.getAttribute('data-step') || 0);
    window.setCharging!(false);
    return step;
  });
  await expect(paused(page)).toHaveAttribute('data-paused', 'true');
  await expect(controls(page)).toHaveAttribute('data-reasons', 'battery');
  await expect(page.getByRole('status').filter({ hasText: 'runs on its battery' })).toBeVisible();
  // The hub heard it, signed by the tab's session key, and the wall says so (the tab is its only peer).
  await expect.poll(wallStatus, { timeout: 30_000 }).toMatchObject({ state: 'paused', reasons: ['battery'], stale: false });
  const onBattery = await stoppedAt(page, 'the step counter on battery');
  expect(onBattery, 'at most the step already running when the battery was unplugged').toBeLessThanOrEqual(beforeUnplug + 1);
  await holdsFor('no inner step on battery', 11_000, async () => (await stepOf(page)) === onBattery);
  console.log(`unplugged at step ${beforeUnplug}, stopped at ${onBattery}`);
  // The person pauses too; charging lifts the battery's reason, not theirs.
  await page.getByRole('button', { name: 'Pause training' }).click();
  await expect(controls(page)).toHaveAttribute('data-reasons', 'person battery');
  await page.evaluate(() => window.setCharging!(true));
  await expect(controls(page)).toHaveAttribute('data-reasons', 'person');
  await expect(paused(page)).toHaveAttribute('data-paused', 'true');
  await page.getByRole('button', { name: 'Resume training' }).click();
  await expect(paused(page)).toHaveAttribute('data-paused', 'false');
  await expect.poll(() => stepOf(page), { timeout: 60_000 }).toBeGreaterThan(onBattery);

  // Serious pressure halves the intensity; critical pauses; nominal resumes at the preset's.
  await cdp.send('Emulation.setPressureStateOverride', { source: 'cpu', state: 'serious' });
  await expect(controls(page)).toHaveAttribute('data-pressure', 'serious');
  await expect(controls(page)).toHaveAttribute('data-duty', '0.5');
  await expect(page.getByRole('status').filter({ hasText: 'serious load' })).toContainText('50% of the time instead of 100%');
  await expect(paused(page)).toHaveAttribute('data-paused', 'false');
  await cdp.send('Emulation.setPressureStateOverride', { source: 'cpu', state: 'critical' });
  await expect(controls(page)).toHaveAttribute('data-reasons', 'heat');
  await expect(paused(page)).toHaveAttribute('data-paused', 'true');
  const hot = await stoppedAt(page, 'the step counter at critical pressure');
  await cdp.send('Emulation.setPressureStateOverride', { source: 'cpu', state: 'nominal' });
  await expect(controls(page)).toHaveAttribute('data-duty', '1');
  await expect(paused(page)).toHaveAttribute('data-paused', 'false');
  await expect.poll(() => stepOf(page), { timeout: 60_000 }).toBeGreaterThan(hot);

  // Idle-only: the browser's idle detection (permission granted) says the person is at the
  // computer, so the tab waits; once they are away it trains; back, and it waits again.
  await page.getByLabel('Train only while I am away').check();
  await expect(page.getByTestId('idle-source')).toHaveAttribute('data-source', 'idle-detection');
  await expect(controls(page)).toHaveAttribute('data-reasons', 'present');
  await expect(paused(page)).toHaveAttribute('data-paused', 'true');
  const present = await stoppedAt(page, 'the step counter while the person is present');
  await cdp.send('Emulation.setIdleOverride', { isUserActive: false, isScreenUnlocked: true });
  await expect(controls(page)).toHaveAttribute('data-away', 'true');
  await expect(paused(page)).toHaveAttribute('data-paused', 'false');
  await expect.poll(() => stepOf(page), { timeout: 60_000 }).toBeGreaterThan(present);
  await cdp.send('Emulation.setIdleOverride', { isUserActive: true, isScreenUnlocked: true });
  await expect(controls(page)).toHaveAttribute('data-reasons', 'present');
  await expect(paused(page)).toHaveAttribute('data-paused', 'true');
  const back = await stoppedAt(page, 'the step counter once the person is back');

  // Without the permission, a hidden tab counts as away (so does no input for the set minutes).
  await browserCdp.send('Browser.resetPermissions', { browserContextId: targetInfo.browserContextId! });
  await expect(page.getByTestId('idle-source')).toHaveAttribute('data-source', 'input');
  await expect(controls(page)).toHaveAttribute('data-reasons', 'present');
  await setHidden(page, true);
  await expect(controls(page)).toHaveAttribute('data-away', 'true');
  await expect(paused(page)).toHaveAttribute('data-paused', 'false');
  await expect.poll(() => stepOf(page), { timeout: 60_000 }).toBeGreaterThan(back);
  await setHidden(page, false);
  await expect(controls(page)).toHaveAttribute('data-reasons', 'present');
  await expect(paused(page)).toHaveAttribute('data-paused', 'true');

  await page.getByLabel('Train only while I am away').uncheck();
  await expect(paused(page)).toHaveAttribute('data-paused', 'false');
  await page.getByRole('button', { name: 'Leave the swarm' }).click();
  await expect(page.getByTestId('swarm')).toHaveAttribute('data-phase', 'left');
  expect(errors).toEqual([]);
});

/**
 * A fixed-offset time zone (Etc/GMT±N) in which it is now between 10 and 11 pm: the next local
 * midnight is one to two hours away, later than the test reaches its cap and near enough that the
 * page's clock, moved there, stays well inside the tab's 12-hour session.
 */
function lateEveningZone(now = new Date()): { timezoneId: string; offsetHours: number } {
  // local hour = UTC hour + offset ≡ 22 (mod 24), with the offset in Etc/GMT's range −12..+14.
  let offset = (22 - now.getUTCHours() + 24) % 24;
  if (offset > 14) offset -= 24;
  return { timezoneId: offset === 0 ? 'Etc/GMT' : offset > 0 ? `Etc/GMT-${offset}` : `Etc/GMT+${-offset}`, offsetHours: offset };
}

/** The first local midnight after `now` in a zone `offsetHours` ahead of UTC, in ms since the epoch. */
function nextMidnight(offsetHours: number, now = Date.now()): number {
  const day = 86_400_000;
  const local = now + offsetHours * 3_600_000;
  return (Math.floor(local / day) + 1) * day - offsetHours * 3_600_000;
}

const zone = lateEveningZone();
test.describe('data caps', () => {
  test.use({ timezoneId: zone.timezoneId });

  test('a daily upload cap stops the exchange at the limit and says so; the next day the tab resumes with the same θ and error feedback', async ({
    page,
  }) => {
    test.setTimeout(360_000);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // The page's clock runs in step with the real one until the test moves it to the day's end.
    await page.clock.install();
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Emulation.setPressureSourceOverrideEnabled', { enabled: true, source: 'cpu' });
    await cdp.send('Emulation.setPressureStateOverride', { source: 'cpu', state: 'nominal' });
    const caps = page.getByTestId('data-caps');
    const dayUp = page.getByTestId('cap-day-up');
    const used = async () => Number(await dayUp.getAttribute('data-used'));

    // 1 kB of upload a day: less than one payload (about 3 kB on tiny).
    await page.goto(hub.http);
    await page.getByLabel('Upload cap per day (MB)').fill('0.001');
    await expect(dayUp).toHaveAttribute('data-limit', '1000');
    await page.getByRole('button', { name: 'Use a burner key' }).click();
    await expect(page.getByTestId('swarm')).toHaveAttribute('data-phase', 'joined', { timeout: 120_000 });
    const bindingId = (await page.getByTestId('binding-id').getAttribute('data-binding-id'))!;

    // The hub copies the tab's first payload: the upload passes the cap, and the tab pauses for it.
    await expect(caps).toHaveAttribute('data-reached', 'day-up', { timeout: 180_000 });
    await expect(controls(page)).toHaveAttribute('data-reasons', 'cap');
    await expect(paused(page)).toHaveAttribute('data-paused', 'true');
    await expect(page.getByTestId('care-banner')).toContainText(/its daily upload cap \([\d.]+ kB of 1\.0 kB\)/);
    await expect(page.getByTestId('care-banner')).toContainText('keeping its model, optimizer state and error feedback');
    await expect.poll(wallStatus, { timeout: 30_000 }).toMatchObject({ state: 'paused', reasons: ['cap'], stale: false });
    await screenshots(page, 'data-cap');
    await expectAccessible(page, 'dashboard at a data cap');
    const resumesAt = Number(await caps.getAttribute('data-resumes-at'));
    expect(resumesAt, 'the daily cap lifts at the next local midnight').toBe(nextMidnight(zone.offsetHours));

    // The round in flight ends (its decision applied, θ and e saved); then nothing moves, neither
    // step nor byte nor saved state, through more than a round (20 blocks of 500 ms).
    const errorFeedback = page.getByTestId('error-feedback-hash');
    const [step, upload, download, modelHash, errorFeedbackHash, savedRound, round] = await steady(
      'the tab at its cap',
      12_000,
      async () => [
        await stepOf(page),
        await used(),
        await page.getByTestId('cap-day-down').getAttribute('data-used'),
        await page.getByTestId('swarm-model-hash').textContent(),
        await errorFeedback.getAttribute('data-hash'),
        await errorFeedback.getAttribute('data-round'),
        await page.getByTestId('swarm-round').textContent(),
      ],
    );
    expect(savedRound, 'it holds θ and e as saved for the round it stopped in').toBe(round);
    expect(upload).toBeGreaterThanOrEqual(1000);
    const commits = (await commitsOf(hub.http, bindingId)).length;
    expect(commits).toBeGreaterThan(0);
    console.log(
      `cap reached: ${upload} B up and ${download} B down today; stopped at step ${step} of round ${round} after ${commits} commit(s)`,
    );

    // A reload keeps the cap and the count, and does not rejoin while the cap holds.
    await page.reload();
    await expect(page.getByLabel('Upload cap per day (MB)')).toHaveValue('0.001');
    await expect(caps).toHaveAttribute('data-reached', 'day-up');
    await expect(dayUp).toHaveAttribute('data-used', String(upload));
    await expect(page.getByTestId('care-banner')).toContainText('its daily upload cap');
    await expect(page.getByRole('button', { name: 'Resume saved session' })).toBeDisabled();
    await holdsFor('no rejoining at the cap', 5_000, async () => (await page.getByTestId('swarm').getAttribute('data-phase')) === 'idle');
    expect((await commitsOf(hub.http, bindingId)).length, 'no commit at the cap').toBe(commits);

    // Midnight: the count starts over, the tab rejoins from its saved θ and e, and trains and sends again.
    await page.clock.setSystemTime(resumesAt);
    await expect(caps).toHaveAttribute('data-reached', '', { timeout: 30_000 });
    await expect(page.getByTestId('swarm')).toHaveAttribute('data-phase', 'joined', { timeout: 120_000 });
    const resumed = page.getByTestId('resumed');
    await expect(resumed).toHaveAttribute('data-source', 'local');
    await expect(resumed).toHaveAttribute('data-model-hash', modelHash!);
    await expect(resumed).toHaveAttribute('data-error-feedback-hash', errorFeedbackHash!);
    await expect(page.getByTestId('binding-id')).toHaveAttribute('data-binding-id', bindingId);
    await expect(paused(page)).toHaveAttribute('data-paused', 'false');
    await expect.poll(async () => (await commitsOf(hub.http, bindingId)).length, { timeout: 120_000 }).toBeGreaterThan(commits);
    // That payload used up the new day's cap in turn.
    await expect(caps).toHaveAttribute('data-reached', 'day-up', { timeout: 60_000 });
    console.log(`the next day: rejoined with model ${modelHash!.slice(0, 12)}…, error feedback ${errorFeedbackHash!.slice(0, 12)}…`);

    await page.getByRole('button', { name: 'Leave the swarm' }).click();
    await expect(page.getByTestId('swarm')).toHaveAttribute('data-phase', 'left');
    expect(errors).toEqual([]);
  });
});
