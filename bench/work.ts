// `node bin/bench.mjs work [--bits 20] [--trials 20] [--browser]`: how long a session start pays
// the registration's proof of work (docs/PROTOCOL.md, "Registration cost"), in Node (`webloco
// peer`) and, with --browser, on a headless Chromium page's main thread (a tab). The search
// takes 2^bits hashes on average, geometrically distributed: the median and the 90th percentile
// say what a participant waits. One JSON line per environment on stdout, a table on stderr.
import type { CommandSpec, OptionValues } from '../src/cli/args.ts';
import { timeBindingWork, type WorkTimings } from './binding-work.ts';
import { openBenchPage, printTable } from './browser.ts';
import type { BenchWindow } from './page.ts';
import type { WorkBenchApi } from './work-page.ts';

export const command = {
  name: 'work',
  program: 'bench',
  summary: "the registration's proof of work as a session start pays it, in Node and (--browser) in a tab",
  options: {
    bits: { kind: 'number', default: 20, help: "leading zero bits of the binding's id (the genesis's bindingWorkBits)" },
    trials: { kind: 'number', default: 20, help: 'bindings to sign' },
    browser: { kind: 'boolean', help: "also on a headless Chromium page's main thread" },
  },
} satisfies CommandSpec;

function summary(where: string, { bits, ms }: WorkTimings): Record<string, string | number> {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  const mean = ms.reduce((a, b) => a + b, 0) / ms.length;
  return {
    where,
    bits,
    trials: ms.length,
    meanMs: Math.round(mean),
    medianMs: Math.round(at(0.5)),
    p90Ms: Math.round(at(0.9)),
    maxMs: Math.round(sorted.at(-1)!),
  };
}

export async function run(args: OptionValues<typeof command.options>): Promise<void> {
  const rows = [summary('node', await timeBindingWork(args.bits, args.trials))];
  if (args.browser) {
    const bench = await openBenchPage('/bench/work.html');
    try {
      const timings = await bench.page.evaluate(
        ([bits, trials]) => (window as unknown as BenchWindow<WorkBenchApi>).webloco.bindingWork(bits!, trials!),
        [args.bits, args.trials],
      );
      rows.push(summary('chromium', timings));
    } finally {
      await bench.close();
    }
  }
  for (const row of rows) console.log(JSON.stringify(row));
  printTable(rows);
}
