// Entry of the bundle that runs on the `device` GPU machine: the webloco CLI.
import { main } from '../../src/cli/main.ts';

await main(process.argv.slice(2));
