// The app shell in real Chromium: the worker reports its WebGPU adapter and runs the model's matmul kernel;
// with WebGPU off the page explains what to do and nothing crashes.
import { chromium, expect, test } from '@playwright/test';
import { chromiumLaunchOptions } from '../src/cli/chromium.ts';

test('the page shows the adapter the training worker got', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  await expect(page.getByTestId('gpu-ready')).toBeVisible();
  await expect(page.getByTestId('adapter-name')).not.toBeEmpty();
  expect(errors).toEqual([]);
});

test('the worker runs a compute shader and its output matches the CPU', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('gpu-ready')).toBeVisible();
  await page.getByRole('button', { name: 'Check the GPU' }).click();
  const result = page.getByTestId('self-test');
  await expect(result).toHaveAttribute('data-ok', 'true');
  await expect(result).toContainText('4107 values');
  await expect(result).toContainText('max error 0');
});

test('with WebGPU turned off the page says what to do and nothing crashes', async () => {
  const browser = await chromium.launch(chromiumLaunchOptions({ webgpu: false }));
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(test.info().project.use.baseURL!);
    const alert = page.getByTestId('gpu-unavailable');
    await expect(alert).toBeVisible();
    await expect(alert).toContainText('WebGPU');
    await expect(alert).toContainText(/Chrome|chrome:\/\/flags/);
    await expect(page.locator('h1')).toHaveText('WebLoCo');
    expect(errors).toEqual([]);
  } finally {
    await browser.close();
  }
});
