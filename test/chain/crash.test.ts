// The dev chain survives SIGKILL at any instant: a child process runs it on one data dir and
// prints each block as it announces it; it is killed with SIGKILL at random instants, four
// times, and restarted on the same dir. Every announced block must still be stored under the
// announced hash, every restart must continue from at least the last announced block, and the
// stored chain must have no gap and verify in full (hash links, seals, replayed extrinsics).
// The kill instants come from a seed the test prints; WEBLOCO_CRASH_SEED=<seed> replays them.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, expect, it } from 'vitest';
import { BlockStore } from '../../src/chain/block-store.ts';
import { verifyChain } from '../../src/chain/verify.ts';
import { cryptoReady } from '../../src/identity/keys.ts';
import { rng } from '../helpers/random.ts';

const CHILD = new URL('./dev-chain.child.ts', import.meta.url).pathname;
const BLOCK_TIME_MS = 50;
const KILLS = 4;
const SEED = process.env.WEBLOCO_CRASH_SEED ? Number(process.env.WEBLOCO_CRASH_SEED) : Math.floor(Math.random() * 2 ** 32);
const dataDir = mkdtempSync(join(tmpdir(), 'webloco-chain-crash-'));

afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

interface Run {
  ready: { height: number; hash: string };
  announced: { height: number; hash: string }[];
}

/** Starts the child and SIGKILLs it `afterMs` after it is ready or as soon as it announces block number `onAnnouncement` of this run. */
function runUntilKilled(kill: { afterMs: number } | { onAnnouncement: number }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--no-warnings', CHILD, dataDir, String(BLOCK_TIME_MS)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const run: Partial<Run> & { announced: Run['announced'] } = { announced: [] };
    createInterface({ input: child.stdout }).on('line', (line) => {
      const message = JSON.parse(line) as { ready?: number; height?: number; hash: string };
      if (message.ready !== undefined) {
        run.ready = { height: message.ready, hash: message.hash };
        if ('afterMs' in kill) setTimeout(() => child.kill('SIGKILL'), kill.afterMs);
      } else {
        run.announced.push({ height: message.height!, hash: message.hash });
        if ('onAnnouncement' in kill && run.announced.length === kill.onAnnouncement) child.kill('SIGKILL');
      }
    });
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL' || !run.ready)
        reject(new Error(`the dev chain child exited (${code ?? signal}) before it was killed: ${stderr}`));
      else resolve(run as Run);
    });
  });
}

it(`keeps every announced block across ${KILLS} SIGKILLs at random instants`, async () => {
  if (!Number.isInteger(SEED)) throw new Error(`WEBLOCO_CRASH_SEED must be an integer, got '${process.env.WEBLOCO_CRASH_SEED}'`);
  const random = rng(SEED);
  const triggers = Array.from({ length: KILLS }, (_, kill) =>
    kill % 2 === 0 ? { afterMs: Math.round(150 + random() * 600) } : { onAnnouncement: 1 + Math.floor(random() * 10) },
  );
  console.log(
    `crash test seed ${SEED}, kill instants ${JSON.stringify(triggers)} (replay: WEBLOCO_CRASH_SEED=${SEED} npx vitest run test/chain/crash.test.ts)`,
  );
  await cryptoReady();
  const announced = new Map<number, string>();
  let lastAnnounced = -1;
  for (const [kill, trigger] of triggers.entries()) {
    const run = await runUntilKilled(trigger);
    const context = `run ${kill} (killed at ${JSON.stringify(trigger)}, seed ${SEED})`;
    // The restart continues from the last block it announced before (or a later one it stored but had not yet printed).
    expect(run.ready.height, context).toBeGreaterThanOrEqual(lastAnnounced);
    if (announced.has(run.ready.height)) expect(run.ready.hash, context).toBe(announced.get(run.ready.height));
    run.announced.forEach(({ height, hash }, i) => {
      expect(height, `${context}: announcements are consecutive`).toBe(run.ready.height + 1 + i);
      announced.set(height, hash);
    });
    expect(run.announced.length, `${context}: it produced blocks before the kill`).toBeGreaterThan(0);
    lastAnnounced = run.announced.at(-1)!.height;
  }

  const store = new BlockStore(join(dataDir, 'chain.sqlite'));
  const blocks = [...store.all()];
  store.close();
  expect(blocks.map((b) => b.height)).toEqual(blocks.map((_, i) => i));
  expect(blocks.length).toBeGreaterThan(lastAnnounced);
  for (const [height, hash] of announced) expect(blocks[height]!.hash, `announced block ${height}`).toBe(hash);
  const verifier = verifyChain(blocks);
  expect(verifier.head!.height).toBe(blocks.length - 1);
  expect(verifier.state.neurons().length, 'registrations made between kills survived').toBeGreaterThan(0);
}, 60_000);
