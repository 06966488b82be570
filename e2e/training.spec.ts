// Training in the browser's worker: the page shows falling loss, stays responsive while the GPU
// trains, and a checkpoint it saves loads in Node with the same parameters and the same loss.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';

async function currentStep(page: Page): Promise<number> {
  const text = await page.getByTestId('step').textContent().catch(() => null);
  return text ? Number(text) : 0;
}

async function losses(page: Page): Promise<number[]> {
  return page.evaluate(() => (window as unknown as { __trainingLosses?: number[] }).__trainingLosses ?? []);
}

test('the worker trains, the loss falls, and the page handles clicks while it trains', async ({ page }) => {
  test.setTimeout(600_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  await expect(page.getByTestId('gpu-ready')).toBeVisible();
  await page.getByRole('button', { name: /^Train \d+ steps$/ }).click();
  const panel = page.getByTestId('training');
  await expect(panel).toHaveAttribute('data-phase', 'training', { timeout: 120_000 });
  await expect.poll(() => currentStep(page), { timeout: 120_000 }).toBeGreaterThanOrEqual(2);

  // A click while the GPU trains: the main thread handles it at once, the worker pauses between steps.
  await page.getByRole('button', { name: 'Pause' }).click();
  await expect(panel).toHaveAttribute('data-phase', 'paused', { timeout: 5_000 });
  const pausedAt = await currentStep(page);
  await page.waitForTimeout(3_000);
  expect(await currentStep(page)).toBeLessThanOrEqual(pausedAt + 1); // at most the step in flight finishes
  await page.getByRole('button', { name: 'Resume' }).click();
  await expect(panel).toHaveAttribute('data-phase', 'training');

  await expect.poll(() => currentStep(page), { timeout: 480_000, intervals: [2_000] }).toBeGreaterThanOrEqual(30);
  await page.getByRole('button', { name: 'Stop' }).click();
  await expect(panel).toHaveAttribute('data-phase', 'ready', { timeout: 60_000 });

  const curve = await losses(page);
  expect(curve.length).toBeGreaterThanOrEqual(30);
  const first = curve.slice(0, 3).reduce((a, b) => a + b) / 3;
  const last = curve.slice(-5).reduce((a, b) => a + b) / 5;
  // Untrained, a byte model's loss is about ln 256 = 5.55; thirty steps take it well below.
  expect(first).toBeGreaterThan(5);
  expect(last).toBeLessThan(first - 1);
  await expect(page.getByTestId('heldout-loss')).toBeVisible();
  expect(errors).toEqual([]);

  // The checkpoint: downloaded from the page, evaluated in Node on the same held-out batches.
  await page.getByRole('button', { name: 'Save checkpoint' }).click();
  const saved = page.getByTestId('checkpoint');
  await expect(saved).toBeVisible({ timeout: 60_000 });
  const browserLoss = Number(await saved.getAttribute('data-heldout-loss'));
  const browserHash = await saved.getAttribute('data-model-hash');
  const downloading = page.waitForEvent('download');
  await saved.getByRole('link').click();
  const file = join(mkdtempSync(join(tmpdir(), 'webloco-ckpt-')), 'model.safetensors');
  await (await downloading).saveAs(file);
  const out = execFileSync(process.execPath, ['bin/webloco.mjs', 'eval', '--checkpoint', file, '--batch', '4', '--seq-len', '64'], { encoding: 'utf8' });
  const node = JSON.parse(out.trim().split('\n').at(-1)!);
  expect(node.modelHash).toBe(browserHash); // the very same parameter bytes
  // Same weights, same batches, two WebGPU implementations (Chromium's Dawn and Node's Dawn): only
  // reduction order may differ, so agreement is to f32 rounding of a mean of ~500 logsumexps.
  expect(Math.abs(node.heldOutLoss - browserLoss)).toBeLessThan(1e-4 * browserLoss);
});
