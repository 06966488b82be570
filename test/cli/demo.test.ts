// `webloco demo`'s arguments: the demo's own defaults (the tiny preset, short rounds, 3 peers, a
// fresh data dir, the repository's dist/), each run setting overridable, and what it refuses.
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEMO_RUN, demoOptionsFrom as demoOptions, wallUrl } from '../../src/cli/demo.ts';

describe('webloco demo arguments', () => {
  it("defaults to three peers on a tiny run with short rounds, in a fresh data dir, serving the repository's dist/", () => {
    expect(demoOptions([])).toEqual({
      peers: 3,
      port: 8080,
      host: '127.0.0.1',
      dataDir: null,
      appDir: resolve(__dirname, '../../dist'),
      takeAll: false,
      headed: false,
      run: {
        preset: 'tiny',
        seed: 0,
        innerSteps: 10,
        batch: 4,
        seqLen: 64,
        blocksPerRound: 10,
        blockTimeMs: 1000,
        rounds: 1000,
        checkpointEvery: 1,
        bindingWorkBits: 19,
        bindingAgeRounds: 2,
      },
    });
    expect(demoOptions(['--help'])).toBeNull();
  });

  it('takes each run setting, the peers, the port and the directories from flags', () => {
    const options = demoOptions([
      '--peers',
      '5',
      '--port',
      '0',
      '--host',
      '0.0.0.0',
      '--data-dir',
      'keep',
      '--app-dir',
      'build',
      '--preset',
      'small',
      '--inner-steps',
      '2',
      '--batch',
      '2',
      '--seq-len',
      '32',
      '--blocks-per-round',
      '20',
      '--block-time-ms',
      '500',
      '--rounds',
      '7',
      '--take-all',
      '--headed',
    ])!;
    expect(options).toMatchObject({
      peers: 5,
      port: 0,
      host: '0.0.0.0',
      dataDir: 'keep',
      appDir: resolve('build'),
      takeAll: true,
      headed: true,
    });
    expect(options.run).toEqual({
      ...DEMO_RUN,
      preset: 'small',
      innerSteps: 2,
      batch: 2,
      seqLen: 32,
      blocksPerRound: 20,
      blockTimeMs: 500,
      rounds: 7,
    });
    // Unnamed settings keep the demo's defaults, not the hub's.
    expect(demoOptions(['--inner-steps', '3'])!.run).toEqual({ ...DEMO_RUN, innerSteps: 3 });
  });

  it('refuses peer counts, ports and run settings that cannot work, saying which flag', () => {
    expect(() => demoOptions(['--peers=-1'])).toThrow(/--peers must be a whole number from 0 to 32/);
    expect(() => demoOptions(['--peers', '2.5'])).toThrow(/--peers/);
    expect(() => demoOptions(['--peers', '33'])).toThrow(/--peers/);
    expect(() => demoOptions(['--port', '65536'])).toThrow(/--port/);
    expect(() => demoOptions(['--inner-steps', '0'])).toThrow(/--inner-steps must be a whole number ≥ 1/);
    expect(() => demoOptions(['--block-time-ms', '0.5'])).toThrow(/--block-time-ms/);
    expect(() => demoOptions(['--peers'])).toThrow(/--peers <value>' argument missing/);
    expect(() => demoOptions(['--wall'])).toThrow(/Unknown option '--wall'/);
  });

  it("puts the wall at the hub page's #/wall", () => {
    expect(wallUrl('http://127.0.0.1:8080')).toBe('http://127.0.0.1:8080/#/wall');
    expect(wallUrl('http://10.99.0.1:4000/')).toBe('http://10.99.0.1:4000/#/wall');
  });
});
