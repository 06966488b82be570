// `node bin/bench.mjs <kernels|train|codec|swarm|work> [options]` (`npm run bench:kernels`, `bench:train`,
// `bench:codec`, `bench:swarm`; `bench/device/run.sh bench <what>` on a GPU machine): benchmarks that print JSON
// lines and a table, comparing side by side with a peer implementation in the same run. Each
// lives in its own module, loaded only when it runs, that exports its options (`command`, a
// CommandSpec) and `run(values)`, as webloco's commands do; `bench <name> --help` prints its usage.
import { runCommandModule, type CommandModule } from '../src/cli/dispatch.ts';

const BENCHES: Record<string, () => Promise<CommandModule>> = {
  kernels: () => import('./kernels.ts'),
  train: () => import('./train.ts'),
  codec: () => import('./codec.ts'),
  swarm: () => import('./swarm.ts'),
  work: () => import('./work.ts'),
};

export async function main(argv: string[]): Promise<void> {
  const [what, ...rest] = argv;
  const load = what ? BENCHES[what] : undefined;
  if (!load) {
    const usage = `usage: bench <${Object.keys(BENCHES).join('|')}> [options]  (npm run bench:<name> -- [options], or bench/device/run.sh bench <name> [options]); bench <name> --help for its options`;
    if (what === '--help' || what === '-h') {
      console.log(usage);
      return;
    }
    console.error(usage);
    process.exitCode = 2;
    return;
  }
  await runCommandModule('bench', what!, load, rest);
}
