#!/usr/bin/env node
// The `webloco` command: registers the TypeScript and WGSL loaders, then runs src/cli.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

const [major] = process.versions.node.split('.').map(Number);
if (major < 22) {
  console.error(`webloco needs Node 22 or newer (this is ${process.version}); run it through npm scripts, which use the node@22 devDependency.`);
  process.exit(1);
}
registerTsx();
register('./wgsl-hooks.mjs', import.meta.url);
const { main } = await import('../src/cli/main.ts');
await main(process.argv.slice(2));
