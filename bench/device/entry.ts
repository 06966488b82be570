// Entry of the bundle that runs on the `device` GPU machine: the webloco CLI, and the benchmarks
// as `bench <kernels|train|codec> [options]` (bench/main.ts; not a webloco subcommand, src/ never
// imports bench/).
import { main } from '../../src/cli/main.ts';
import { main as bench } from '../main.ts';

const [command, ...rest] = process.argv.slice(2);
await (command === 'bench' ? bench(rest) : main(process.argv.slice(2)));
