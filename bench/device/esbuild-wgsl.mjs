// esbuild plugins for the device bundle: `?raw` WGSL imports as in Vite, and stand-ins for
// browser-only packages.
import { readFile } from 'node:fs/promises';
import { resolve, dirname } from 'node:path';

export const wgslRaw = {
  name: 'wgsl-raw',
  setup(build) {
    build.onResolve({ filter: /\.wgsl\?raw$/ }, (args) => ({
      path: resolve(dirname(args.importer), args.path.slice(0, -'?raw'.length)),
      namespace: 'wgsl-raw',
    }));
    build.onLoad({ filter: /.*/, namespace: 'wgsl-raw' }, async (args) => ({
      contents: `export default ${JSON.stringify(await readFile(args.path, 'utf8'))};`,
      loader: 'js',
    }));
  },
};

// Packages only the browser benchmarks use (the GPU machine has no browser): an empty CommonJS
// module stands in, so that the bundle loads and the Node-only paths run.
export const browserOnly = {
  name: 'browser-only',
  setup(build) {
    build.onResolve({ filter: /^(vite|playwright-core|@tensorflow\/.*)$/ }, (args) => ({ path: args.path, namespace: 'browser-only' }));
    build.onLoad({ filter: /.*/, namespace: 'browser-only' }, (args) => ({
      contents: `module.exports = new Proxy({}, { get(_, key) { if (key === '__esModule') return false; throw new Error(${JSON.stringify(`${args.path} is not available on this machine (browser benchmarks only)`)}); } });`,
      loader: 'js',
    }));
  },
};
