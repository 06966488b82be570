// Serves the project with Vite and opens a bench page in headless Chromium with WebGPU, so that
// benchmarks compare our kernels and tfjs-webgpu in one browser on one device.
import { chromium, type Browser, type Page } from 'playwright-core';
import { createServer, type ViteDevServer } from 'vite';
import { chromiumLaunchOptions } from '../src/cli/chromium.ts';

export interface BenchBrowser {
  page: Page;
  close(): Promise<void>;
}

export async function openBenchPage(path: string): Promise<BenchBrowser> {
  const server: ViteDevServer = await createServer({
    root: new URL('..', import.meta.url).pathname,
    logLevel: 'error',
    server: { host: '127.0.0.1', port: 0, strictPort: false },
  });
  await server.listen();
  const address = server.httpServer?.address();
  if (!address || typeof address === 'string') throw new Error('vite did not report a port');
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch(chromiumLaunchOptions({ webgpu: true }));
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error(`[page] ${e.message}`));
    await page.goto(`http://127.0.0.1:${address.port}${path}`);
    await page.waitForFunction(() => document.getElementById('log')?.textContent?.startsWith('ready'), null, { timeout: 120_000 });
    const opened = browser;
    return {
      page,
      async close() {
        await opened.close();
        await server.close();
      },
    };
  } catch (err) {
    await browser?.close();
    await server.close();
    throw err;
  }
}

/** Prints rows as an aligned text table on stderr (stdout carries the JSON lines). */
export function printTable(rows: Record<string, string | number>[]): void {
  if (rows.length === 0) return;
  const cols = Object.keys(rows[0]!);
  const cell = (v: string | number) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : v);
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c] ?? '').length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padStart(widths[i]!)).join('  ');
  console.error(line(cols));
  for (const r of rows) console.error(line(cols.map((c) => cell(r[c] ?? ''))));
}
