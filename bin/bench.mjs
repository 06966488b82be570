#!/usr/bin/env node
// The benchmarks' command (`npm run bench:kernels|bench:train|bench:codec`): registers the
// TypeScript and WGSL loaders, then runs bench/main.ts. Benchmarks live outside src/, which never
// imports them, so they are not a `webloco` subcommand.
import './register-loaders.mjs';

const { main } = await import('../bench/main.ts');
await main(process.argv.slice(2));
