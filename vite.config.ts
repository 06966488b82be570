// One config for the app (Vite), the unit tests (Vitest) and the bench pages.
// WGSL is imported as text with `?raw`; bin/wgsl-hooks.mjs gives Node the same import.
import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';
import { resolve } from 'node:path';

export default defineConfig({
  plugins: [react()],
  worker: { format: 'es' },
  build: {
    target: 'es2023',
    rollupOptions: {
      input: {
        main: resolve(import.meta.dirname, 'index.html'),
      },
    },
  },
  test: {
    // Dawn is a native addon: one process per test file, never worker threads.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    setupFiles: ['bin/quiet-warnings.mjs'],
    projects: [
      // `npm run test:unit`: every module, and smoke versions of the claims.
      { extends: true, test: { name: 'unit', include: ['test/**/*.test.ts'] } },
      // `npm run test:claims`: the project's learning claims at full length. Each file is one Node
      // process that keeps about one core busy on SwiftShader, so the two run side by side.
      { extends: true, test: { name: 'claims', include: ['test/claims/*.claim.ts'], maxWorkers: 2 } },
    ],
  },
});
