// Getting a GPUDevice with the limits WebLoCo needs, from any `GPU` (navigator.gpu or Dawn).
import { GpuDeviceLostError, GpuLimitError, WebGpuUnavailableError } from './errors.ts';

/** Limits the model needs raised above WebGPU's defaults (requested up to the adapter's maximum). */
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
] as const satisfies readonly (keyof GPUSupportedLimits)[];

/** The floor below which the kernels cannot run at all. */
const REQUIRED_LIMITS: Partial<Record<(typeof WANTED_LIMITS)[number], number>> = {
  maxStorageBuffersPerShaderStage: 8,
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeInvocationsPerWorkgroup: 256,
};

export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  features: string[];
  limits: Record<string, number>;
}

export interface GpuDevice {
  device: GPUDevice;
  adapter: AdapterReport;
  hasTimestamps: boolean;
  hasSubgroups: boolean;
  /** The adapter's smallest subgroup size (0 without subgroups): every subgroup has at least this many lanes. */
  subgroupMinSize: number;
  /** f16 in shaders (the `shader-f16` feature). */
  hasF16: boolean;
  /** Resolves when the device is lost, with an error that says what to do. */
  lost: Promise<GpuDeviceLostError>;
  /** Uncaptured WebGPU errors since the last `takeErrors()`. */
  takeErrors(): string[];
}

function describeAdapter(adapter: GPUAdapter, limits: GPUSupportedLimits): AdapterReport {
  const info = adapter.info;
  const report: Record<string, number> = {};
  for (const name of WANTED_LIMITS) report[name] = Number(limits[name]);
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isFallbackAdapter: Boolean(
      (info as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter,
    ),
    features: [...adapter.features].sort(),
    limits: report,
  };
}

export async function requestAdapter(gpu: GPU | undefined): Promise<GPUAdapter | null> {
  if (!gpu) throw new WebGpuUnavailableError('navigator.gpu is undefined');
  return gpu.requestAdapter({ powerPreference: 'high-performance' });
}

/** Requests a device whose limits are the adapter's maxima for everything in WANTED_LIMITS. */
export async function openDevice(adapter: GPUAdapter): Promise<GpuDevice> {
  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) {
    const have = Number(adapter.limits[name]);
    const need = REQUIRED_LIMITS[name];
    if (need !== undefined && have < need) {
      throw new GpuLimitError(`This GPU's ${name} is ${have}; WebLoCo needs at least ${need}. Try another browser or GPU.`);
    }
    requiredLimits[name] = have;
  }
  const features: GPUFeatureName[] = [];
  for (const f of ['timestamp-query', 'subgroups', 'shader-f16'] as GPUFeatureName[]) if (adapter.features.has(f)) features.push(f);
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures: features });
  const lost = device.lost.then((info) => new GpuDeviceLostError(info.reason, info.message));
  // Without a handler a rejected dispatch is only a console warning and its output reads as
  // zeros; collect them so the runtime can fail loudly at the next readback.
  let errors: string[] = [];
  device.addEventListener('uncapturederror', (event) => {
    if (errors.length < 100) errors.push(event.error.message);
  });
  return {
    takeErrors: () => {
      const taken = errors;
      errors = [];
      return taken;
    },
    device,
    adapter: describeAdapter(adapter, device.limits),
    hasTimestamps: device.features.has('timestamp-query'),
    hasSubgroups: device.features.has('subgroups'),
    subgroupMinSize: device.features.has('subgroups') ? Number((adapter.info as { subgroupMinSize?: number }).subgroupMinSize ?? 0) : 0,
    hasF16: device.features.has('shader-f16'),
    lost,
  };
}
