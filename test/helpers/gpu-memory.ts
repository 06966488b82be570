// GPU memory a piece of work leaves allocated: the device's createBuffer is wrapped to count the
// bytes of every buffer created and not yet destroyed.
import type { GpuRuntime } from '../../src/gpu/runtime.ts';

export interface BufferLedger {
  /** Bytes in buffers created since tracking began and not destroyed. */
  readonly liveBytes: number;
  stop(): void;
}

export function trackBuffers(rt: GpuRuntime): BufferLedger {
  const device = rt.device;
  const createBuffer = device.createBuffer.bind(device);
  const live = new Map<GPUBuffer, number>();
  device.createBuffer = (descriptor: GPUBufferDescriptor) => {
    const buffer = createBuffer(descriptor);
    live.set(buffer, descriptor.size);
    const destroy = buffer.destroy.bind(buffer);
    buffer.destroy = () => {
      live.delete(buffer);
      destroy();
    };
    return buffer;
  };
  return {
    get liveBytes() {
      let bytes = 0;
      for (const size of live.values()) bytes += size;
      return bytes;
    },
    stop() {
      device.createBuffer = createBuffer;
    },
  };
}
