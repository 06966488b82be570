// What every bench page exposes to its Node driver (bench/browser.ts): `window.webloco` with the
// adapter report and the page's own benchmarks, a log line sink, and 'ready' once loaded.
import { browserGpuDevice } from '../src/gpu/browser.ts';
import type { AdapterReport } from '../src/gpu/device.ts';

const logEl = document.getElementById('log')!;

/** Appends a line to the page's log (what a person watching the page sees). */
export function logLine(line: string): void {
  logEl.textContent += `\n${line}`;
}

/** The page's `window` as its driver sees it (inside `page.evaluate`): the adapter and the page's benchmarks. */
export type BenchWindow<T> = { webloco: { adapter(): Promise<AdapterReport> } & T };

export function exposeBenchApi<T extends object>(benches: T): void {
  const api = {
    adapter: async () => {
      const gpu = await browserGpuDevice();
      const report = gpu.adapter;
      gpu.device.destroy();
      return report;
    },
    ...benches,
  };
  (window as unknown as BenchWindow<T>).webloco = api;
  logEl.textContent = 'ready';
}
