// `webloco gpu-info`: the adapter Dawn gives this machine, as one JSON object.
import { nodeGpuDevice } from '../gpu/node.ts';
import type { CommandSpec } from './args.ts';

export const command = {
  name: 'gpu-info',
  summary: 'print the WebGPU adapter, features and limits as JSON',
  options: {},
} satisfies CommandSpec;

export async function run(): Promise<void> {
  const gpu = await nodeGpuDevice();
  console.log(JSON.stringify({ ...gpu.adapter, hasTimestamps: gpu.hasTimestamps, hasSubgroups: gpu.hasSubgroups }));
  gpu.device.destroy();
}
