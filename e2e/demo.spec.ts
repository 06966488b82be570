// `webloco demo --peers 3` brings up a whole swarm (a hub with the Gauntlet, three headless
// Chromium pages that join with burner keys and train on SwiftShader), and its wall shows the three
// peers and a decided round that took payloads. The wall is screenshotted at desktop and phone
// widths (test-results/screenshots/wall-*.png) and must have no serious or critical axe violation;
// Ctrl-C (SIGINT) stops the demo cleanly.
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { FAST_RUN } from './fixtures/processes.ts';

const SCREENSHOTS = 'test-results/screenshots';

async function expectNoSeriousAxeViolations(page: Page, what: string): Promise<void> {
  const { violations } = await new AxeBuilder({ page }).analyze();
  const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const described = serious.map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`);
  expect(described, `axe on ${what}`).toEqual([]);
}

test('webloco demo --peers 3: the wall shows three peers and a decided round; screenshots; axe; Ctrl-C stops it', async ({ page }) => {
  test.setTimeout(420_000);
  const started = Date.now();
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;
  // The tiny preset with FAST_RUN's inner steps and 10 s rounds: the pages join, sit out their two
  // null rounds, then send payloads the Gauntlet scores.
  const demo = spawn(process.execPath, ['bin/webloco.mjs', 'demo', '--peers', '3', '--port', '0', '--app-dir', 'dist', ...FAST_RUN], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const printed: string[] = [];
  createInterface({ input: demo.stdout }).on('line', (line) => {
    printed.push(line);
    console.log(`[demo ${elapsed()}] ${line}`);
  });
  createInterface({ input: demo.stderr }).on('line', (line) => {
    if (line.trim()) console.log(`[demo stderr] ${line}`);
  });
  try {
    // It prints the wall's address once the hub is up (or exits, and the test ends there).
    await expect
      .poll(() => (demo.exitCode !== null ? `exited with ${demo.exitCode}` : printed.some((l) => l.startsWith('wall: '))), {
        timeout: 120_000,
      })
      .toBe(true);
    const wallUrl = printed.find((l) => l.startsWith('wall: '))!.slice('wall: '.length);
    expect(wallUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#\/wall$/);

    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(wallUrl);
    await expect(page.getByRole('heading', { level: 1, name: 'WebLoCo swarm' })).toBeVisible();
    // The three pages join with burner keys: one row each, and the count.
    await expect(page.getByTestId('wall-peer')).toHaveCount(3, { timeout: 240_000 });
    await expect(page.getByTestId('wall-peer-count')).toContainText('3');
    console.log(`${elapsed()}: the wall shows 3 peers`);
    // A decided round that took at least one payload.
    const completed = page.locator('[data-testid="wall-round-row"][data-decided="true"]:not([data-taken="0"])');
    await expect(completed.first()).toBeVisible({ timeout: 300_000 });
    const round = await completed.first().getAttribute('data-round');
    console.log(`${elapsed()}: round ${round} decided with ${await completed.first().getAttribute('data-taken')} payload(s) taken`);
    await expect(page.locator('[data-testid="wall-peer"]:not([data-included="0"])').first()).toBeVisible();
    // The Gauntlet measured the round's model: its loss is on the wall (the round's row, the big number, the chart).
    await expect(page.locator('[data-testid="wall-round-row"][data-decided="true"]:not([data-loss=""])').first()).toBeVisible({
      timeout: 60_000,
    });
    await expect(page.getByTestId('wall-loss')).toContainText(/\d\.\d{3}/);
    await expect(page.getByTestId('loss-chart')).toBeVisible();
    // Each page says after every round how busy its GPU was; the wall shows the swarm's mean.
    const gpuBusy = page.getByTestId('wall-gpu-busy');
    await expect(gpuBusy).toContainText(/\d+\.\d %/, { timeout: 60_000 });
    await expect(gpuBusy).toContainText(/as [123] peers? said/);
    console.log(`${elapsed()}: GPUs busy ${await gpuBusy.textContent()}`);
    expect(printed.filter((l) => /^peer \d+ joined/.test(l))).toHaveLength(3);

    await page.screenshot({ path: `${SCREENSHOTS}/wall-desktop.png`, fullPage: true });
    await expectNoSeriousAxeViolations(page, 'the wall at 1280×800');
    await page.setViewportSize({ width: 390, height: 844 });
    await expect(page.getByTestId('wall-peer')).toHaveCount(3);
    // Usable at phone width: nothing wider than the screen outside the tables' own scroll regions.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: `${SCREENSHOTS}/wall-phone.png`, fullPage: true });
    await expectNoSeriousAxeViolations(page, 'the wall at 390×844');

    // Ctrl-C: the browser and the hub stop and the demo exits on its own.
    demo.kill('SIGINT');
    await expect.poll(() => demo.exitCode ?? demo.signalCode ?? 'still running', { timeout: 60_000 }).toBe(0);
    expect(printed).toContain('demo: SIGINT, stopping');
  } finally {
    if (demo.exitCode === null) demo.kill('SIGKILL');
  }
});
