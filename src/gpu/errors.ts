// Errors a participant can act on: each message says what went wrong and what to do about it.

export class WebGpuUnavailableError extends Error {
  override name = 'WebGpuUnavailableError';
  constructor(detail: string) {
    super(
      `WebGPU is not available here (${detail}): use Chrome or Edge 113+, or enable ` +
        'chrome://flags/#enable-unsafe-webgpu; on Linux start Chromium with --enable-unsafe-webgpu.',
    );
  }
}

export class GpuLimitError extends Error {
  override name = 'GpuLimitError';
}

export class GpuDeviceLostError extends Error {
  override name = 'GpuDeviceLostError';
  constructor(reason: string, message: string) {
    super(
      `The GPU device was lost (${reason}: ${message}). Training stopped; reload the page to ` +
        'start again. If this repeats, close other GPU-heavy tabs or update the graphics driver.',
    );
  }
}

/** WebGPU rejected a command (a validation or out-of-memory error); its result is garbage. */
export class GpuCommandError extends Error {
  override name = 'GpuCommandError';
  constructor(messages: string[]) {
    super(`WebGPU rejected ${messages.length} command(s), so results read back may be wrong: ${messages.slice(0, 3).join(' | ')}`);
  }
}
