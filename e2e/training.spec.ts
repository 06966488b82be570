// The tab as a swarm of one: its worker runs real SparseLoCo rounds (inner steps, GPU error
// feedback and compression, encode, outer step), the page shows each round's payload and model
// hash, and Node's engine, given the same seed, data and rounds, produces the very same payload
// bytes and model hashes. The page stays responsive while the GPU trains, and a checkpoint it
// saves loads in Node with the same parameters and the same loss.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { holdsFor } from './fixtures/wait.ts';

const ROUNDS = 3;

async function currentStep(page: Page): Promise<number> {
  const text = await page
    .getByTestId('step')
    .textContent()
    .catch(() => null);
  return text ? Number(text) : 0;
}

interface ShownRound {
  round: number;
  payloadHash: string;
  modelHash: string;
  payloadBytes: number;
  heldOutLoss: number;
}

async function shownRounds(page: Page): Promise<ShownRound[]> {
  return page.getByTestId('round-row').evaluateAll((rows) =>
    rows.map((row) => ({
      round: Number(row.getAttribute('data-round')),
      payloadHash: row.getAttribute('data-payload-hash')!,
      modelHash: row.getAttribute('data-model-hash')!,
      payloadBytes: Number(row.getAttribute('data-payload-bytes')),
      heldOutLoss: Number(row.getAttribute('data-heldout-loss')),
    })),
  );
}

test('the tab runs SparseLoCo rounds whose payloads and model hashes Node reproduces bit for bit', async ({ page }) => {
  test.setTimeout(600_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  await expect(page.getByTestId('gpu-ready')).toBeVisible();
  await page.getByLabel('Rounds').fill(String(ROUNDS));
  await page.getByRole('button', { name: `Start ${ROUNDS} rounds` }).click();
  const panel = page.getByTestId('training');
  await expect(panel).toHaveAttribute('data-phase', 'training', { timeout: 120_000 });
  await expect.poll(() => currentStep(page), { timeout: 120_000 }).toBeGreaterThanOrEqual(2);

  // A click while the GPU trains: the main thread handles it at once, the worker pauses between steps.
  await page.getByRole('button', { name: 'Pause' }).click();
  await expect(panel).toHaveAttribute('data-phase', 'paused', { timeout: 5_000 });
  const pausedAt = await currentStep(page);
  // At most the step in flight finishes; the window (several steps long) is watched throughout.
  await holdsFor('at most the step in flight finishes after pausing', 3_000, async () => (await currentStep(page)) <= pausedAt + 1);
  await page.getByRole('button', { name: 'Resume' }).click();
  await expect(panel).toHaveAttribute('data-phase', 'training');

  await expect(panel).toHaveAttribute('data-phase', 'finished', { timeout: 480_000 });
  const rounds = await shownRounds(page);
  expect(rounds.map((r) => r.round)).toEqual([0, 1, 2]);
  for (const r of rounds) {
    // A real compressed payload: ~3.2 KB for tiny's 123,200 parameters (~154× less than dense fp32).
    expect(r.payloadBytes).toBeGreaterThan(1000);
    expect(r.payloadBytes * 100).toBeLessThan(123_200 * 4);
  }
  // The model learns through its own compressed updates: held-out loss falls every round.
  expect(rounds[1]!.heldOutLoss).toBeLessThan(rounds[0]!.heldOutLoss);
  expect(rounds[2]!.heldOutLoss).toBeLessThan(rounds[1]!.heldOutLoss);
  expect(rounds[0]!.heldOutLoss).toBeLessThan(Math.log(256)); // untrained: ln 256 = 5.55
  await expect(page.getByTestId('model-hash')).toHaveText(rounds[2]!.modelHash);
  expect(errors).toEqual([]);

  // The same run in Node: the engine on Dawn, same seed (0), data, identity and round count.
  const out = execFileSync(
    process.execPath,
    [
      'bin/webloco.mjs',
      'simulate',
      '--peers',
      '1',
      '--rounds',
      String(ROUNDS),
      '--inner-steps',
      '10',
      '--batch',
      '4',
      '--seq-len',
      '64',
      '--run-id',
      'solo',
      '--skip-baseline',
      '--eval-batches',
      '1',
      '--final-eval-batches',
      '1',
      '--json',
    ],
    { encoding: 'utf8' },
  );
  const nodeRounds = out
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{') && l.includes('"round"'))
    .map((l) => JSON.parse(l) as { round: number; payloadHashes: string[]; modelHash: string });
  expect(nodeRounds.map((r) => ({ round: r.round, payloadHash: r.payloadHashes[0], modelHash: r.modelHash }))).toEqual(
    rounds.map((r) => ({ round: r.round, payloadHash: r.payloadHash, modelHash: r.modelHash })),
  );

  // The checkpoint: downloaded from the page, evaluated in Node on the same held-out batches.
  await page.getByRole('button', { name: 'Save checkpoint' }).click();
  const saved = page.getByTestId('checkpoint');
  await expect(saved).toBeVisible({ timeout: 60_000 });
  const browserLoss = Number(await saved.getAttribute('data-heldout-loss'));
  const browserHash = await saved.getAttribute('data-model-hash');
  expect(browserHash).toBe(rounds[2]!.modelHash);
  const downloading = page.waitForEvent('download');
  await saved.getByRole('link').click();
  const file = join(mkdtempSync(join(tmpdir(), 'webloco-ckpt-')), 'model.safetensors');
  await (await downloading).saveAs(file);
  const evalOut = execFileSync(process.execPath, ['bin/webloco.mjs', 'eval', '--checkpoint', file, '--batch', '4', '--seq-len', '64'], {
    encoding: 'utf8',
  });
  const node = JSON.parse(evalOut.trim().split('\n').at(-1)!) as { modelHash: string; heldOutLoss: number };
  expect(node.modelHash).toBe(browserHash); // the very same parameter bytes
  // Same weights, same batches, two WebGPU implementations (Chromium's Dawn and Node's Dawn): only
  // reduction order may differ, so agreement is to f32 rounding of a mean of ~500 logsumexps.
  expect(Math.abs(node.heldOutLoss - browserLoss)).toBeLessThan(1e-4 * browserLoss);
});
