// Lets Node run the TypeScript sources as they are: checks for Node 22, then registers tsx (.ts)
// and bin/wgsl-hooks.mjs (`x.wgsl?raw`, as Vite resolves it). Imported first by bin/webloco.mjs
// and bin/bench.mjs, before they load any .ts module. Also silences node:sqlite's experimental
// warning (bin/quiet-warnings.mjs).
import { register } from 'node:module';
import './quiet-warnings.mjs';
import { register as registerTsx } from 'tsx/esm/api';

const [major] = process.versions.node.split('.').map(Number);
if (major < 22) {
  console.error(
    `WebLoCo needs Node 22 or newer (this is ${process.version}); run it through npm scripts, which use the node@22 devDependency.`,
  );
  process.exit(1);
}
registerTsx();
register('./wgsl-hooks.mjs', import.meta.url);
