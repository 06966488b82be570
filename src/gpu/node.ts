// WebGPU in Node through Dawn (npm `webgpu`). Where Dawn finds no adapter (a machine with no GPU
// driver), it falls back to the SwiftShader Vulkan driver that Debian's chromium ships.
import { existsSync } from 'node:fs';
import { openDevice, requestAdapter, type GpuDevice } from './device.ts';
import { WebGpuUnavailableError } from './errors.ts';

const SWIFTSHADER_ICDS = [
  '/usr/lib/chromium/vk_swiftshader_icd.json',
  '/usr/lib/chromium-browser/vk_swiftshader_icd.json',
  '/usr/lib64/chromium-browser/vk_swiftshader_icd.json',
];

let dawnGpu: Promise<GPU> | undefined;

async function createDawn(): Promise<GPU> {
  const { create, globals } = await import('webgpu');
  // Dawn's constants (GPUBufferUsage, ...) must be globals for code written for the browser.
  Object.assign(globalThis, globals);
  return create([]) as GPU;
}

/** A Dawn `GPU` with an adapter, finding SwiftShader when the system has no usable driver. */
export async function nodeGpu(): Promise<{ gpu: GPU; adapter: GPUAdapter }> {
  dawnGpu ??= createDawn();
  let gpu = await dawnGpu;
  let adapter = await requestAdapter(gpu);
  if (!adapter && !process.env.VK_ICD_FILENAMES) {
    const icd = SWIFTSHADER_ICDS.find((p) => existsSync(p));
    if (icd) {
      process.env.VK_ICD_FILENAMES = icd;
      dawnGpu = createDawn();
      gpu = await dawnGpu;
      adapter = await requestAdapter(gpu);
    }
  }
  if (!adapter) {
    throw new WebGpuUnavailableError(
      'Dawn found no GPU adapter: install a Vulkan driver (NVIDIA, Mesa >= 23) and libvulkan1, ' +
        "or Debian's chromium for its SwiftShader software driver",
    );
  }
  return { gpu, adapter };
}

export async function nodeGpuDevice(): Promise<GpuDevice> {
  const { adapter } = await nodeGpu();
  return openDevice(adapter);
}
