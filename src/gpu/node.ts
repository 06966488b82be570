// WebGPU in Node through Dawn (npm `webgpu`). Where Dawn finds no adapter (a machine with no GPU
// driver), it falls back to the SwiftShader Vulkan driver that Debian's chromium ships. On Linux
// with no Vulkan driver installed at all it picks SwiftShader up front: probing the empty system
// first would print the Vulkan loader's "vkCreateInstance: Found no drivers!" on every run.
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { openDevice, requestAdapter, type GpuDevice } from './device.ts';
import { WebGpuUnavailableError } from './errors.ts';

const SWIFTSHADER_ICDS = [
  '/usr/lib/chromium/vk_swiftshader_icd.json',
  '/usr/lib/chromium-browser/vk_swiftshader_icd.json',
  '/usr/lib64/chromium-browser/vk_swiftshader_icd.json',
];

/** Variables that name the Vulkan drivers to load: whoever sets one has chosen, and we leave it be. */
const DRIVER_VARIABLES = ['VK_ICD_FILENAMES', 'VK_DRIVER_FILES', 'VK_ADD_DRIVER_FILES'];

let dawnGpu: Promise<GPU> | undefined;

/** The folders the Linux Vulkan loader searches for driver manifests when no variable names them. */
function vulkanDriverDirs(): string[] {
  const env = process.env;
  const home = homedir();
  const configDirs = [
    env.XDG_CONFIG_HOME || join(home, '.config'),
    ...(env.XDG_CONFIG_DIRS || '/etc/xdg').split(':'),
    '/usr/local/etc',
    '/etc',
  ];
  const dataDirs = [env.XDG_DATA_HOME || join(home, '.local/share'), ...(env.XDG_DATA_DIRS || '/usr/local/share:/usr/share').split(':')];
  return [...configDirs, ...dataDirs].filter((d) => d !== '').map((d) => join(d, 'vulkan', 'icd.d'));
}

function hasSystemVulkanDriver(): boolean {
  return vulkanDriverDirs().some((dir) => {
    try {
      return readdirSync(dir).some((file) => file.endsWith('.json'));
    } catch {
      return false; // no such folder: nothing installed there
    }
  });
}

function driverChosen(): boolean {
  return DRIVER_VARIABLES.some((name) => process.env[name]);
}

async function createDawn(): Promise<GPU> {
  const { create, globals } = await import('webgpu');
  // Dawn's constants (GPUBufferUsage, ...) must be globals for code written for the browser.
  Object.assign(globalThis, globals);
  return create([]);
}

/** A Dawn `GPU` with an adapter, finding SwiftShader when the system has no usable driver. */
async function nodeGpu(): Promise<{ gpu: GPU; adapter: GPUAdapter }> {
  const swiftShader = SWIFTSHADER_ICDS.find((p) => existsSync(p));
  if (!dawnGpu && swiftShader && process.platform === 'linux' && !driverChosen() && !hasSystemVulkanDriver())
    process.env.VK_ICD_FILENAMES = swiftShader;
  dawnGpu ??= createDawn();
  let gpu = await dawnGpu;
  let adapter = await requestAdapter(gpu);
  // A driver is installed but gave no adapter (e.g. a GPU's driver on a machine without that GPU).
  if (!adapter && !driverChosen() && swiftShader) {
    process.env.VK_ICD_FILENAMES = swiftShader;
    dawnGpu = createDawn();
    gpu = await dawnGpu;
    adapter = await requestAdapter(gpu);
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
