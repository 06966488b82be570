// The volunteer's machine comes first, against a real `webloco hub`: a tab that joined with a
// burner key pauses by itself on battery (a fake Battery Status API the test unplugs and plugs in)
// within one inner step and resumes on charge; at 'critical' CPU pressure (DevTools' pressure
// override) it pauses, at 'serious' the duty cycle it gives the worker halves; in idle-only mode
// it trains only while DevTools' idle override says the person is away, or, without the idle
// detection permission, while the tab is hidden. The intensity preset survives a reload, and the
// person's own pause survives the battery charging.
import { expect, test, type Page } from '@playwright/test';
import { chromiumLaunchOptions } from '../src/cli/chromium.ts';
import { FAST_RUN, startHub, type HubProcess } from './fixtures/processes.ts';
import { holdsFor, steady } from './fixtures/wait.ts';
import type { WallView } from '../src/run/api.ts';
import { setHidden } from './fixtures/visibility.ts';

// The API the other specs turn off; here DevTools' override sets what it reports.
test.use({ launchOptions: chromiumLaunchOptions({ webgpu: true, computePressure: true }) });

let hub: HubProcess;

test.beforeAll(async () => {
  // Six inner steps a round rather than FAST_RUN's two, so that a pause lands between steps of a round.
  hub = await startHub({ args: [...FAST_RUN, '--inner-steps', '6'] });
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
  const beforeUnplug = await stepOf(page);
  await page.evaluate(() => window.setCharging!(false));
  await expect(paused(page)).toHaveAttribute('data-paused', 'true');
  await expect(controls(page)).toHaveAttribute('data-reasons', 'battery');
  await expect(page.getByRole('status').filter({ hasText: 'runs on its battery' })).toBeVisible();
  // The hub heard it, signed by the tab's session key, and the wall says so (the tab is its only peer).
  const wallStatus = async () => ((await (await fetch(`${hub.http}/api/wall`)).json()) as WallView).peers[0]?.status;
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
