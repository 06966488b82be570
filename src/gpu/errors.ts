// Errors a participant can act on: each message says what went wrong and what to do about it.
import { CodedError } from '../base/errors.ts';

export class WebGpuUnavailableError extends CodedError<'webgpu-unavailable'> {
  constructor(detail: string) {
    super(
      'webgpu-unavailable',

      `WebGPU is not available here (${detail}): use Chrome or Edge 113+, or enable ` +
        'chrome://flags/#enable-unsafe-webgpu; on Linux start Chromium with --enable-unsafe-webgpu.',
    );
  }
}

/** A shape or buffer past the adapter's limits: the message says which limit and what to do. */
export class GpuLimitError extends CodedError<'gpu-limit'> {
  constructor(message: string) {
    super('gpu-limit', message);
  }
}

export class GpuDeviceLostError extends CodedError<'device-lost'> {
  constructor(
    /** The browser's GPUDeviceLostReason ('destroyed' or 'unknown') and its message. */
    readonly reason: string,
    readonly detail: string,
  ) {
    super(
      'device-lost',

      `The GPU device was lost (${reason}: ${detail}). Training stopped; reload the page to ` +
        'start again. If this repeats, close other GPU-heavy tabs or update the graphics driver.',
    );
  }
}

/** WebGPU rejected a command (a validation or out-of-memory error); its result is garbage. */
export class GpuCommandError extends CodedError<'command-rejected'> {
  constructor(messages: string[]) {
    super(
      'command-rejected',
      `WebGPU rejected ${messages.length} command(s), so results read back may be wrong: ${messages.slice(0, 3).join(' | ')}`,
    );
  }
}
