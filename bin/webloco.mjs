#!/usr/bin/env node
// The `webloco` command: registers the TypeScript and WGSL loaders, then runs src/cli.
import './register-loaders.mjs';

const { main } = await import('../src/cli/main.ts');
await main(process.argv.slice(2));
