// The layering of src/, checked by dependency-cruiser in `npm run lint:deps` (the first step of
// `npm test`). docs/ARCHITECTURE.md ("Layers") explains it. Every rule is generated from LEVELS:
// adding a folder to src/ is one line here.

/** src/ folders, lowest level first. A folder imports only folders on strictly lower levels (and itself). */
const LEVELS = [
  ['base'],
  ['gpu', 'data'],
  ['kernels'],
  ['model'],
  ['train', 'sparseloco'],
  ['engine'],
  ['identity'],
  ['chain'],
  ['gauntlet', 'swarm'],
  ['run'],
  ['client', 'hub'],
  ['cli', 'ui'],
];

const anyOf = (folders) => `^src/(${folders.join('|')})/`;
const ALL_FOLDERS = LEVELS.flat();

/** For each level: importing a folder on this level or above, other than one's own, is forbidden. */
const layerRules = LEVELS.map((folders, level) => ({
  name: `layer-${level}-${folders.join('-')}`,
  severity: 'error',
  comment:
    `src/{${folders.join(',')}} may import only their own folder` +
    (level === 0 ? '' : ` and the lower levels src/{${LEVELS.slice(0, level).flat().join(',')}}`) +
    ': see docs/ARCHITECTURE.md "Layers"',
  from: { path: anyOf(folders) },
  to: { path: anyOf(LEVELS.slice(level).flat()), pathNot: '^src/$1/' },
}));

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'folder-not-in-levels',
      severity: 'error',
      comment: 'every folder of src/ must have a level: add it to LEVELS in .dependency-cruiser.cjs and to docs/ARCHITECTURE.md',
      from: { path: '^src/', pathNot: anyOf(ALL_FOLDERS) },
      to: {},
    },
    {
      name: 'import-of-folder-not-in-levels',
      severity: 'error',
      comment: 'every folder of src/ must have a level: add it to LEVELS in .dependency-cruiser.cjs and to docs/ARCHITECTURE.md',
      from: {},
      to: { path: '^src/', pathNot: anyOf(ALL_FOLDERS) },
    },
    {
      name: 'no-folder-cycle',
      severity: 'error',
      comment: 'folders that import each other, directly or through others, cannot be layered',
      scope: 'folder',
      from: {},
      to: { circular: true },
    },
    {
      name: 'ui-not-gpu',
      severity: 'error',
      comment: 'the UI reaches the GPU only through src/client (the worker); import types from there',
      from: { path: '^src/ui/' },
      to: { path: ['^src/(gpu|kernels)/', '^shaders/'] },
    },
    {
      name: 'shaders-only-from-kernels',
      severity: 'error',
      comment: 'WGSL is launched by src/kernels only; elsewhere use the launcher',
      from: { pathNot: '^src/kernels/' },
      to: { path: '^shaders/' },
    },
    {
      name: 'product-not-bench-or-test',
      severity: 'error',
      comment: 'src/ never imports benchmarks, tests or e2e specs; they import src/',
      from: { path: '^src/' },
      to: { path: '^(bench|test|e2e)/' },
    },
    {
      name: 'resolvable',
      severity: 'error',
      comment: 'an import that does not resolve to a file (a typo, or a package that is not installed)',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: a type couples two layers as much as a value does.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // `.ts` extensions in import paths (allowImportingTsExtensions) and Vite's `x.wgsl?raw`.
    enhancedResolveOptions: {
      extensions: ['.ts', '.tsx', '.mjs', '.js', '.json'],
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
    skipAnalysisNotInRules: true,
  },
};
