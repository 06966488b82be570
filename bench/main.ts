// `node bin/bench.mjs <kernels|train|codec|swarm> [options]` (`npm run bench:kernels`, `bench:train`,
// `bench:codec`, `bench:swarm`; `bench/device/run.sh bench <what>` on a GPU machine): benchmarks that print JSON
// lines and a table, comparing side by side with a peer implementation in the same run. Each
// lives in its own module, loaded only when it runs, and exports `run(argv)`.

const BENCHES: Record<string, () => Promise<{ run(argv: string[]): Promise<void> }>> = {
  kernels: () => import('./kernels.ts'),
  train: () => import('./train.ts'),
  codec: () => import('./codec.ts'),
  swarm: () => import('./swarm.ts'),
};

export async function main(argv: string[]): Promise<void> {
  const [what, ...rest] = argv;
  const load = what ? BENCHES[what] : undefined;
  if (!load) {
    console.error(
      `usage: bench <${Object.keys(BENCHES).join('|')}> [options]  (npm run bench:<name> -- [options], or bench/device/run.sh bench <name> [options])`,
    );
    process.exitCode = 2;
    return;
  }
  try {
    await (await load()).run(rest);
  } catch (err) {
    console.error(`bench ${what}: ${err instanceof Error ? err.message : String(err)}`);
    if (process.env.WEBLOCO_DEBUG) console.error(err);
    process.exitCode = 1;
  }
}
