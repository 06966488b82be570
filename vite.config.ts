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
    include: ['test/**/*.test.ts'],
    // Dawn is a native addon: one process per test file, never worker threads.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
