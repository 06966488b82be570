// A tab survives a lost GPU: while it trains in a hub's run, the test SIGKILLs Chromium's GPU
// process (the worker's device is then lost, as after a driver reset). The tab opens a new adapter
// and device, restores θ, AdamW state and the error feedback it saved after its last round, and
// rejoins with the same session: no second wallet prompt. The dashboard says it happened and how
// long the recovery took, the restored θ and e hash to what was saved before the kill, and the
// tab's next payload is committed on chain and included in a decision. The kill comes after the
// tab's first included payload, so the θ it restores is its own run's, not the starting model.
// Playwright's launchServer gives the browser's pid, so the GPU process can be found among its
// children (`chrome://gpucrash` does nothing in headless Chromium).
import { readdirSync, readFileSync } from 'node:fs';
import { chromium, expect, test } from '@playwright/test';
import { chromiumLaunchOptions } from '../src/cli/chromium.ts';
import { commitsOf } from './fixtures/chain-api.ts';
import { FAST_RUN, startHub, type HubProcess } from './fixtures/processes.ts';
import { installTestWallet } from './fixtures/test-wallet.ts';

let hub: HubProcess;

test.beforeAll(async () => {
  // Checkpoints only at round 0: the tab's own saved θ is then always the newer one.
  hub = await startHub({ args: [...FAST_RUN, '--checkpoint-every', '1000'] });
});
test.afterAll(() => hub?.stop());

/** Every process's parent, from /proc/PID/stat (the field after the command's closing parenthesis). */
function parents(): Map<number, number> {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // The process exited while the list was read: it is no one's GPU process.
    }
  }
  return parentOf;
}

/** The pid of the `--type=gpu-process` among the descendants of `root`, if there is one. */
function gpuProcess(root: number): number | undefined {
  const parentOf = parents();
  const descends = (pid: number): boolean => {
    for (let p = parentOf.get(pid); p !== undefined && p > 1; p = parentOf.get(p)) if (p === root) return true;
    return false;
  };
  return [...parentOf.keys()].find((pid) => {
    if (!descends(pid)) return false;
    try {
      // Zygote children rewrite their command line as one space-separated string: match the text.
      return /(^|[\s\0])--type=gpu-process([\s\0]|$)/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
    } catch {
      return false; // exited meanwhile
    }
  });
}

test('a tab whose GPU process is killed mid-round recovers on a new device with its saved state and session', async () => {
  test.setTimeout(420_000);
  const server = await chromium.launchServer(chromiumLaunchOptions({ webgpu: true }));
  try {
    const browserPid = server.process().pid!;
    const browser = await chromium.connect(server.wsEndpoint());
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const wallet = await installTestWallet(page, '//WebLoCoGpuLost');

    await page.goto(hub.http);
    await page.getByRole('button', { name: 'Connect wallet' }).click();
    await expect(page.getByLabel('Account').locator('option')).toHaveCount(1);
    await page.getByRole('button', { name: 'Join with this account' }).click();
    const panel = page.getByTestId('swarm');
    await expect(panel).toHaveAttribute('data-phase', 'joined', { timeout: 150_000 });
    const bindingId = (await page.getByTestId('binding-id').getAttribute('data-binding-id'))!;
    expect(wallet.requests).toHaveLength(1);

    // After its null rounds the tab's payload is included, so θ is no longer the run's θ_0 (nor
    // the hub's only checkpoint); the round after that decision is saved (θ, AdamW state, e in
    // IndexedDB), and then a round trains.
    const firstIncluded = page.locator('[data-testid="swarm-round-row"][data-included="true"]').first();
    await expect(firstIncluded).toBeVisible({ timeout: 180_000 });
    const includedBefore = Number(await firstIncluded.getAttribute('data-round'));
    const savedRoundNow = async () => Number(await page.getByTestId('error-feedback-hash').getAttribute('data-round'));
    await expect.poll(savedRoundNow, { timeout: 60_000 }).toBeGreaterThan(includedBefore);
    await expect(page.getByTestId('swarm-phase')).toHaveText('training', { timeout: 60_000 });
    // Saves happen only after a round's decision, seconds after its training: these are what the
    // tab holds in IndexedDB when the GPU process dies just below.
    const saved = page.getByTestId('error-feedback-hash');
    const savedErrorFeedback = (await saved.getAttribute('data-hash'))!;
    const savedRound = (await saved.getAttribute('data-round'))!;
    const savedModel = (await page.getByTestId('download-checkpoint').getAttribute('data-model-hash'))!;
    const killedRound = Number(await page.getByTestId('swarm-round').textContent());
    const gpu = gpuProcess(browserPid);
    expect(gpu, "Chromium's GPU process among the browser's descendants").toBeDefined();
    process.kill(gpu!, 'SIGKILL');
    console.log(`killed the GPU process ${gpu} in round ${killedRound}; saved θ ${savedModel.slice(0, 12)}… of round ${savedRound}`);

    const notice = page.getByTestId('gpu-recovery');
    await expect(notice).toBeVisible({ timeout: 60_000 });
    await expect(notice).toHaveAttribute('data-state', 'recovered', { timeout: 180_000 });
    await expect(notice).toHaveAttribute('data-recoveries', '1');
    await expect(page.getByTestId('gpu-recoveries')).toHaveText('1');
    await expect(panel).toHaveAttribute('data-phase', 'joined');
    const recoveryMs = Number(await notice.getAttribute('data-recovery-ms'));
    expect(recoveryMs).toBeGreaterThan(0);
    console.log(`recovered in ${recoveryMs} ms: ${await notice.textContent()}`);

    // The same θ (optimizer state rides in the same checkpoint files) and e as saved before the
    // kill, on a new device in a new GPU process, with the same session and no wallet prompt.
    const resumed = page.getByTestId('resumed');
    await expect(resumed).toHaveAttribute('data-source', 'local');
    await expect(resumed).toHaveAttribute('data-round', savedRound);
    await expect(resumed).toHaveAttribute('data-model-hash', savedModel);
    await expect(resumed).toHaveAttribute('data-error-feedback-hash', savedErrorFeedback);
    await expect(page.getByTestId('binding-id')).toHaveAttribute('data-binding-id', bindingId);
    expect(wallet.requests, 'no second wallet prompt: the saved session was resumed').toHaveLength(1);
    const newGpu = gpuProcess(browserPid);
    expect(newGpu, 'Chromium started a new GPU process').toBeDefined();
    expect(newGpu).not.toBe(gpu);

    // Its next payload, after the lost round, is committed on chain and included in a decision.
    const includedAfter = async () => {
      for (const row of await page.locator('[data-testid="swarm-round-row"][data-included="true"]').all()) {
        const round = Number(await row.getAttribute('data-round'));
        if (round > killedRound) return { round, payloadHash: (await row.getAttribute('data-payload-hash'))! };
      }
      return null;
    };
    await expect.poll(includedAfter, { timeout: 180_000 }).not.toBeNull();
    const included = (await includedAfter())!;
    expect(await commitsOf(hub.http, bindingId)).toContainEqual([included.round, `0x${included.payloadHash}`]);
    console.log(`round ${included.round}: payload ${included.payloadHash.slice(0, 12)}… committed and included after the recovery`);
    expect(errors).toEqual([]);
    await browser.close();
  } finally {
    await server.close();
  }
});
