// WebGPU in a browser window or a dedicated worker: navigator.gpu is the same in both.
import { openDevice, requestAdapter, type GpuDevice } from './device.ts';
import { WebGpuUnavailableError } from './errors.ts';

export async function browserGpuDevice(): Promise<GpuDevice> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) throw new WebGpuUnavailableError('navigator.gpu is undefined in this context');
  const adapter = await requestAdapter(gpu);
  if (!adapter) throw new WebGpuUnavailableError('the browser offered no GPU adapter');
  return openDevice(adapter);
}
