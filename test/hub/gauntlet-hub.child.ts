// Run by the Gauntlet restart scenario (test/claims/gauntlet-restart-scenario.ts) as a separate
// Node process, to be killed with SIGKILL at random instants: starts a hub as `webloco hub` does
// (startRunHub: the dev chain, the round keeper and the Gauntlet on Dawn, restored from the data dir)
// on a fixed port, and prints one JSON line {ready: {http, round}} when it serves, then
// {decided: round} for every decision as its block is announced (before the hub has finished with
// the round). Usage: gauntlet-hub.child.ts <data dir> <port> <block time ms> <blocks per round>.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRunHub } from '../../src/cli/hub.ts';

const [dataDir, port, blockTimeMs, blocksPerRound] = process.argv.slice(2);
if (!dataDir || !port || !blockTimeMs || !blocksPerRound)
  throw new Error('usage: gauntlet-hub.child.ts <data dir> <port> <block time ms> <blocks per round>');
const write = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`);
const appDir = mkdtempSync(join(tmpdir(), 'webloco-app-'));
writeFileSync(join(appDir, 'index.html'), '<!doctype html><title>WebLoCo</title>');
const { hub } = await startRunHub({
  port: Number(port),
  dataDir,
  appDir,
  runId: 'gauntlet-restart',
  run: {
    preset: 'tiny',
    seqLen: 16,
    batch: 1,
    innerSteps: 1,
    rounds: 1000,
    blockTimeMs: Number(blockTimeMs),
    blocksPerRound: Number(blocksPerRound),
    checkpointEvery: 1,
    bindingWorkBits: 0,
    bindingAgeRounds: 0,
  },
  takeAll: false,
  // Few evaluation sequences: the scenario is about surviving kills, not about measuring well.
  gauntletConfig: { assignedSequences: 2, randomSequences: 2 },
  payloadDeadlineMs: 1_000,
});
hub.chain!.onBlock((block) => {
  for (const extrinsic of block.extrinsics as { call: string; decision?: { decision: { round: number } } }[])
    if (extrinsic.call === 'decision') write({ decided: extrinsic.decision!.decision.round });
});
write({ ready: { http: hub.http, round: hub.state()!.round } });
