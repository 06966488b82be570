// How WebLoCo starts Chromium (e2e tests, benchmarks): the system binary, WebGPU on
// (SwiftShader where there is no GPU, the real GPU with WEBLOCO_REAL_GPU=1), and no background
// traffic to Google's services; the Compute Pressure API off unless a caller asks for it.
import { existsSync } from 'node:fs';
import type { LaunchOptions } from 'playwright-core';

export function chromiumPath(): string {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
  const found = candidates.find((p): p is string => !!p && existsSync(p));
  if (!found) throw new Error('No Chromium found: install it (apt-get install chromium) or set CHROMIUM_PATH');
  return found;
}

/**
 * `computePressure` (off by default) leaves the Compute Pressure API on. The pages WebLoCo starts
 * itself share their machine with the training they run: on SwiftShader that training is the CPU
 * load, and the page would pause at 'critical' pressure for itself (src/ui/machine-care.ts).
 */
export function chromiumLaunchOptions({ webgpu, computePressure = false }: { webgpu: boolean; computePressure?: boolean }): LaunchOptions {
  const quiet = ['--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--no-sandbox'];
  const pressure = computePressure ? [] : ['--disable-blink-features=ComputePressure'];
  // WEBLOCO_REAL_GPU=1 uses the machine's GPU driver instead of SwiftShader.
  const gpuFlags = webgpu
    ? [
        '--enable-unsafe-webgpu',
        ...(process.env.WEBLOCO_REAL_GPU ? ['--enable-features=Vulkan', '--use-angle=vulkan'] : ['--enable-unsafe-swiftshader']),
      ]
    : ['--disable-webgpu', '--disable-gpu'];
  return { executablePath: chromiumPath(), args: [...quiet, ...pressure, ...gpuFlags] };
}
