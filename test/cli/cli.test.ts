// Every `webloco` command (and every benchmark) answers --help with its usage and exit 0, and wrong
// usage with exit 2 and a message naming what is wrong; parseCommand reads numbers, booleans,
// defaults and required options, and refuses what its spec does not declare.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { formatUsage, parseCommand, UsageError, type CommandSpec, type OptionSpecs } from '../../src/cli/args.ts';
import { COMMAND_NAMES } from '../../src/cli/main.ts';

const REPO = resolve(__dirname, '../..');

/** bench/swarm.ts is on the legacy parser too, until someone converts it. */
const BENCHES = ['kernels', 'train', 'codec'];

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a bin (which registers the TypeScript loaders) with this Node; never rejects. */
function runBin(bin: string, args: string[]): Promise<Ran> {
  return new Promise((done) => {
    execFile(process.execPath, [resolve(REPO, bin), ...args], { cwd: REPO, timeout: 170_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

// Started together when the file loads: a cold start of the bin takes seconds on a slow machine,
// and every test below awaits its own.
const list = runBin('bin/webloco.mjs', ['--help']);
const help = new Map(COMMAND_NAMES.map((name) => [name, runBin('bin/webloco.mjs', [name, '--help'])]));
const unknown = new Map(COMMAND_NAMES.map((name) => [name, runBin('bin/webloco.mjs', [name, '--no-such-option'])]));
const benchHelp = new Map(BENCHES.map((name) => [name, runBin('bin/bench.mjs', [name, '--help'])]));

// Each test waits for its own process, started above, which may queue behind all the others.
vi.setConfig({ testTimeout: 180_000 });

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('webloco <command> --help', () => {
  it.each(COMMAND_NAMES)('%s prints its usage and exits 0', async (name) => {
    const ran = await help.get(name)!;
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
    expect(ran.stdout).toMatch(new RegExp(`^usage: webloco ${name}( |\\n)`));
    expect(ran.stdout).toMatch(/^ {2}--help +print this and exit$/m);
  });

  it("webloco --help lists every command, with the summary of the command's own --help", async () => {
    const ran = await list;
    expect(ran.code).toBe(0);
    for (const name of COMMAND_NAMES) {
      const summary = (await help.get(name)!).stdout.split('\n')[2]!;
      expect(summary.length).toBeGreaterThan(0);
      expect(ran.stdout).toMatch(new RegExp(`^ {2}${name} +${escapeRegExp(summary)}$`, 'm'));
    }
  });
});

describe('webloco <command> with an unknown option', () => {
  it.each(COMMAND_NAMES)('%s exits 2 naming the option, and points to --help', async (name) => {
    const ran = await unknown.get(name)!;
    expect(ran.code).toBe(2);
    expect(ran.stdout).toBe('');
    expect(ran.stderr).toContain(`webloco ${name}:`);
    expect(ran.stderr).toContain('--no-such-option');
    expect(ran.stderr).toContain(`webloco ${name} --help`);
  });
});

describe('bench <name> --help', () => {
  it.each(BENCHES)('%s prints its usage and exits 0', async (name) => {
    const ran = await benchHelp.get(name)!;
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
    expect(ran.stdout).toMatch(new RegExp(`^usage: bench ${name}( |\\n)`));
  });
});

describe('parseCommand', () => {
  const options = {
    steps: { kind: 'number', default: 200, help: 'steps' },
    lr: { kind: 'number', help: 'learning rate' },
    preset: { kind: 'string', default: 'tiny', help: 'preset' },
    out: { kind: 'string', placeholder: 'DIR', help: 'where' },
    json: { kind: 'boolean', help: 'JSON lines' },
  } satisfies OptionSpecs;
  const spec: CommandSpec<typeof options> = { name: 'try', summary: 'a command to test with', options, required: ['out'] };

  it('fills the defaults and leaves the other absent options undefined', () => {
    expect(parseCommand(spec, ['--out', 'x'])).toEqual({ steps: 200, lr: undefined, preset: 'tiny', out: 'x', json: undefined });
  });

  it('reads numbers, strings and booleans', () => {
    expect(parseCommand(spec, ['--steps', '5', '--lr=3e-4', '--preset', 'small', '--out', 'd', '--json'])).toEqual({
      steps: 5,
      lr: 3e-4,
      preset: 'small',
      out: 'd',
      json: true,
    });
    // A value starting with a dash is taken only in the --name=value form (node:util's strict parseArgs).
    expect(parseCommand(spec, ['--out', 'd', '--lr=-1'])).toMatchObject({ lr: -1 });
    expect(() => parseCommand(spec, ['--out', 'd', '--lr', '-1'])).toThrow(UsageError);
  });

  it('refuses a number option given something else, naming the option', () => {
    expect(() => parseCommand(spec, ['--out', 'd', '--steps', 'many'])).toThrow(
      new UsageError("webloco try: --steps needs a number, got 'many'"),
    );
    expect(() => parseCommand(spec, ['--out', 'd', '--steps', ''])).toThrow(UsageError);
  });

  it('refuses a missing required option, a missing value, an unknown option and a positional argument', () => {
    expect(() => parseCommand(spec, [])).toThrow(new UsageError('webloco try: --out is required'));
    expect(() => parseCommand(spec, ['--out'])).toThrow(/--out/);
    expect(() => parseCommand(spec, ['--out', 'd', '--stpes', '3'])).toThrow(/webloco try: .*--stpes/);
    expect(() => parseCommand(spec, ['--out', 'd', 'extra'])).toThrow(/webloco try: .*extra/);
    expect(() => parseCommand(spec, ['--out', 'd', '--json=yes'])).toThrow(UsageError);
  });

  it("answers 'help' for --help or -h, whatever else is there", () => {
    expect(parseCommand(spec, ['--help'])).toBe('help');
    expect(parseCommand(spec, ['--steps', 'x', '-h'])).toBe('help');
  });

  it('names the program in its errors and usage', () => {
    const bench: CommandSpec<typeof options> = { ...spec, program: 'bench' };
    expect(() => parseCommand(bench, [])).toThrow(new UsageError('bench try: --out is required'));
    expect(formatUsage(bench).split('\n')[0]).toBe('usage: bench try --out DIR [options]');
  });

  it('formats the usage: required options first, then each option with its default or placeholder', () => {
    const usage = formatUsage(spec);
    expect(usage.split('\n').slice(0, 3)).toEqual(['usage: webloco try --out DIR [options]', '', 'a command to test with']);
    expect(usage).toMatch(/^ {2}--steps 200 +steps$/m);
    expect(usage).toMatch(/^ {2}--lr N +learning rate$/m);
    expect(usage).toMatch(/^ {2}--out DIR +where \(required\)$/m);
    expect(usage).toMatch(/^ {2}--json +JSON lines$/m);
    expect(usage).toMatch(/^ {2}--help +print this and exit$/m);
  });
});
