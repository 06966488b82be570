// `npm run bench:kernels`: GFLOP/s of every matmul shape in each preset's training step, ours
// beside tfjs-backend-webgpu's matMul in the same headless Chromium; JSON lines on stdout, a
// table on stderr. `--node` measures ours alone on Dawn in Node (machines without a browser);
// with `--f16` it also times each product on f16 operands (the f16 path's matmuls: packed halves,
// f32 sums) beside the f32 one.
import { UsageError, type CommandSpec, type OptionValues } from '../src/cli/args.ts';
import { preset, type PresetName } from '../src/model/config.ts';
import { openBenchPage, printTable } from './browser.ts';
import type { KernelsPage, MatmulResult } from './kernels-page.ts';
import type { BenchWindow } from './page.ts';
import { matmulFlopsOf, trainingStepMatmuls, type MatmulShape } from './shapes.ts';

/** Tokens per step: realistic on a real GPU, cut down on a software one. */
const TOKENS: Record<PresetName, { gpu: number; software: number }> = {
  tiny: { gpu: 4096, software: 256 },
  small: { gpu: 4096, software: 256 },
  base: { gpu: 8192, software: 128 },
};

export const command = {
  name: 'kernels',
  program: 'bench',
  summary: "GFLOP/s of every matmul of each preset's training step, ours beside tfjs-backend-webgpu's in headless Chromium",
  options: {
    presets: { kind: 'string', default: 'tiny,small,base', help: 'comma-separated presets whose training-step matmuls to measure' },
    tokens: { kind: 'number', placeholder: 'N', help: 'tokens per training step (default: per preset, fewer on a software adapter)' },
    'budget-ms': { kind: 'number', default: 300, help: 'time budget of each product (ms)' },
    node: { kind: 'boolean', help: 'measure ours alone on Dawn in Node, without a browser or tfjs' },
    f16: { kind: 'boolean', help: 'with --node: also time each product on f16 operands' },
  },
  details: ['JSON lines on stdout, a table on stderr.'],
} satisfies CommandSpec;

export async function run(args: OptionValues<typeof command.options>): Promise<void> {
  const presets = args.presets.split(',') as PresetName[];
  const budgetMs = args['budget-ms'];
  if (args.node) return runNode(presets, args.tokens, budgetMs, args.f16 ?? false);
  if (args.f16) throw new UsageError('--f16 is measured with --node only (the page compares f32 products with tfjs)');

  const bench = await openBenchPage('/bench/kernels.html');
  try {
    const adapter = await bench.page.evaluate(() => (window as unknown as BenchWindow<KernelsPage>).webloco.adapter());
    console.log(JSON.stringify({ kind: 'adapter', ...adapter, features: undefined }));
    const software = adapter.isFallbackAdapter || adapter.architecture === 'swiftshader';
    const table: Record<string, string | number>[] = [];
    for (const name of presets) {
      const tokens = args.tokens ?? TOKENS[name][software ? 'software' : 'gpu'];
      const shapes = trainingStepMatmuls(preset(name), tokens);
      const results: MatmulResult[] = await bench.page.evaluate(
        ([s, b]) => (window as unknown as BenchWindow<KernelsPage>).webloco.benchMatmuls(s, b),
        [shapes, budgetMs] as [MatmulShape[], number],
      );
      let oursMs = 0;
      let tfjsMs = 0;
      for (const r of results) {
        console.log(JSON.stringify({ kind: 'matmul', preset: name, tokens, ...r }));
        table.push({ preset: name, shape: r.name, M: r.M, N: r.N, K: r.K, ours: r.oursGflops, tfjs: r.tfjsGflops, ratio: r.ratio });
        const f = matmulFlopsOf(r) * r.count;
        oursMs += f / r.oursGflops / 1e6;
        tfjsMs += f / r.tfjsGflops / 1e6;
      }
      const summary = { kind: 'step-matmuls', preset: name, tokens, oursMs, tfjsMs, ratio: tfjsMs / oursMs };
      console.log(JSON.stringify(summary));
      table.push({ preset: name, shape: 'ALL (step, weighted)', M: '', N: '', K: '', ours: '', tfjs: '', ratio: summary.ratio });
    }
    printTable(table);
  } finally {
    await bench.close();
  }
}

async function runNode(presets: PresetName[], tokensArg: number | undefined, budgetMs: number, f16: boolean): Promise<void> {
  const { nodeGpuDevice } = await import('../src/gpu/node.ts');
  const { GpuRuntime } = await import('../src/gpu/runtime.ts');
  const { matmul } = await import('../src/kernels/matmul.ts');
  const { castToHalf, halfBytes } = await import('../src/kernels/cast.ts');
  const rt = new GpuRuntime(await nodeGpuDevice());
  const adapter = rt.gpu.adapter;
  console.log(JSON.stringify({ kind: 'adapter', ...adapter, features: undefined }));
  const software = adapter.isFallbackAdapter || adapter.architecture === 'swiftshader';
  const table: Record<string, string | number>[] = [];
  for (const name of presets) {
    const tokens = tokensArg ?? TOKENS[name][software ? 'software' : 'gpu'];
    for (const s of trainingStepMatmuls(preset(name), tokens)) {
      const a = rt.upload(new Float32Array(s.M * s.K).fill(0.5));
      const b = rt.upload(new Float32Array(s.K * s.N).fill(0.25));
      const out = rt.acquire(s.M * s.N * 4);
      const timeGflops = async (record: () => void) => {
        await rt.time(record); // warm-up
        const once = (await rt.time(record)).ms;
        const reps = Math.max(1, Math.min(100, Math.floor(budgetMs / Math.max(once, 0.01))));
        const { ms, source } = await rt.time(() => {
          for (let i = 0; i < reps; i++) record();
        });
        return { gflops: (matmulFlopsOf(s) * reps) / ms / 1e6, source };
      };
      const shape = { M: s.M, N: s.N, K: s.K, transA: s.transA, transB: s.transB };
      const { gflops, source } = await timeGflops(() => matmul(rt, { out, a, b, ...shape }));
      let f16Gflops: number | undefined;
      if (f16) {
        const ah = rt.acquire(halfBytes(s.M * s.K));
        const bh = rt.acquire(halfBytes(s.K * s.N));
        castToHalf(rt, { dst: ah, src: a, n: s.M * s.K });
        castToHalf(rt, { dst: bh, src: b, n: s.K * s.N });
        f16Gflops = (await timeGflops(() => matmul(rt, { out, a: ah, b: bh, ...shape, half: true }))).gflops;
        rt.release(ah);
        rt.release(bh);
      }
      console.log(
        JSON.stringify({
          kind: 'matmul',
          preset: name,
          tokens,
          ...s,
          oursGflops: gflops,
          ...(f16 ? { oursF16Gflops: f16Gflops } : {}),
          timer: source,
        }),
      );
      table.push({ preset: name, shape: s.name, M: s.M, N: s.N, K: s.K, gflops, ...(f16 ? { 'f16 gflops': f16Gflops! } : {}) });
      for (const buf of [a, b, out]) rt.release(buf);
      rt.trimPool();
    }
  }
  printTable(table);
  rt.destroy();
}
