// Exact-length reads and backpressured writes on a libp2p 3 stream. The transfer protocols parse
// their frames with these, so a short, long or stalled stream surfaces as a ProtocolError that
// names what was being read, never as a hang or a partial buffer.
import { CodedError } from '../base/errors.ts';
import type { Stream } from '@libp2p/interface';

/**
 * A peer broke the swarm's wire rules: a transfer stream that is short, long, stalled or framed
 * wrong (`malformed-stream`), or a gossip message that fails its topic's codec (`malformed-message`).
 */
export class ProtocolError extends CodedError<'malformed-stream' | 'malformed-message'> {
  constructor(message: string, code: 'malformed-stream' | 'malformed-message' = 'malformed-stream') {
    super(code, message);
  }
}

/**
 * The bytes one transfer sent and received on its stream: the protocol's own bytes (request,
 * status, lengths, frames), as they left and arrived, whether or not the transfer succeeded.
 */
export interface TransferMeter {
  sent: number;
  received: number;
}

/** Reads a stream's bytes in exact amounts, buffering what the transport delivered beyond them. */
export class StreamReader {
  private readonly chunks: AsyncIterator<Uint8Array | { subarray(): Uint8Array }>;
  private pending: Uint8Array = new Uint8Array(0);
  private ended = false;

  /** `meter.received` counts every byte the transport delivers, read or not. */
  constructor(
    stream: Stream,
    private readonly meter?: TransferMeter,
  ) {
    this.chunks = stream[Symbol.asyncIterator]();
  }

  /** Fills `target` completely; throws if the stream ends first. */
  async readInto(target: Uint8Array, what: string): Promise<void> {
    let filled = 0;
    while (filled < target.byteLength) {
      if (this.pending.byteLength === 0 && !(await this.pull())) {
        throw new ProtocolError(`stream ended after ${filled} of ${target.byteLength} bytes of ${what}`);
      }
      const take = Math.min(this.pending.byteLength, target.byteLength - filled);
      target.set(this.pending.subarray(0, take), filled);
      this.pending = this.pending.subarray(take);
      filled += take;
    }
  }

  async read(length: number, what: string): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    await this.readInto(out, what);
    return out;
  }

  /** True when the remote closed its writable end and every byte has been read. */
  async atEnd(): Promise<boolean> {
    return this.pending.byteLength === 0 && !(await this.pull());
  }

  private async pull(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.chunks.next();
    if (next.done) {
      this.ended = true;
      return false;
    }
    const chunk = next.value instanceof Uint8Array ? next.value : next.value.subarray();
    if (this.meter) this.meter.received += chunk.byteLength;
    this.pending = this.pending.byteLength === 0 ? chunk : concat(this.pending, chunk);
    return true;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}

/** Sends bytes, waiting for the transport to drain whenever its buffer is full; `meter.sent` counts them. */
export async function sendAll(stream: Stream, bytes: Uint8Array, signal?: AbortSignal, meter?: TransferMeter): Promise<void> {
  if (meter) meter.sent += bytes.byteLength;
  if (!stream.send(bytes)) await stream.onDrain({ signal });
}

export function u32le(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, true);
  return out;
}

export function readU32le(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
}
