// `webloco bench <what>`: benchmarks that print JSON lines and a table, comparing side by side
// with a peer implementation in the same run. The benchmarks live in bench/.

const BENCHES: Record<string, () => Promise<{ run(argv: string[]): Promise<void> }>> = {
  kernels: () => import('../../bench/kernels.ts'),
  train: () => import('../../bench/train.ts'),
  codec: () => import('../../bench/codec.ts'),
};

export async function run(argv: string[]): Promise<void> {
  const [what, ...rest] = argv;
  const load = what ? BENCHES[what] : undefined;
  if (!load) throw new Error(`usage: webloco bench <${Object.keys(BENCHES).join('|')}> [options]`);
  await (await load()).run(rest);
}
