// `webloco gpu-info`: the adapter Dawn gives this machine, as one JSON object.
import { nodeGpuDevice } from '../gpu/node.ts';

export async function run(): Promise<void> {
  const gpu = await nodeGpuDevice();
  console.log(JSON.stringify({ ...gpu.adapter, hasTimestamps: gpu.hasTimestamps, hasSubgroups: gpu.hasSubgroups }));
  gpu.device.destroy();
}
