// /webloco/payload/1 and /webloco/checkpoint/1: fetch an object by its blake3 hash.
//
//   request:  32 bytes, the raw digest; then the requester closes its writable end.
//   response: status u8; if ok: total u32 LE, then frames (length u32 LE, 1..1 MiB, then that
//             many bytes) whose lengths add up to total, then the responder closes.
//             Otherwise: message length u16 LE (<= 1024) and a UTF-8 message.
//
// The requester checks `total` against its limit before allocating anything, checks every frame
// length, and verifies the hash of what arrived. Layout and limits: docs/PROTOCOL.md, "Swarm".
import { asError, CodedError } from '../base/errors.ts';
import type { Stream } from '@libp2p/interface';
import { type ContentStore } from './content.ts';
import { createContentHasher, toContentHash } from '../base/content-hash.ts';
import { bytesToHex, hexToBytes } from '../base/hex.ts';
import { printable } from '../base/log-text.ts';
import { HASH_BYTES, MAX_ERROR_MESSAGE_BYTES, MAX_FRAME_BYTES, Status, type StatusCode } from './protocol.ts';
import type { RateLimiter } from './rate-limit.ts';
import { ProtocolError, StreamReader, readU32le, sendAll, u32le, type TransferMeter } from './stream-bytes.ts';

const STATUS_NAMES: Record<number, string> = Object.fromEntries(Object.entries(Status).map(([name, code]) => [code, name]));

/** A refusal's status as an error code (kebab-case, as every code in the project). */
export type TransferErrorCode = 'not-found' | 'bad-request' | 'rate-limited' | 'too-large' | 'internal';
const TRANSFER_CODES: Record<number, TransferErrorCode> = {
  [Status.notFound]: 'not-found',
  [Status.badRequest]: 'bad-request',
  [Status.rateLimited]: 'rate-limited',
  [Status.tooLarge]: 'too-large',
  [Status.internal]: 'internal',
};

/** The remote answered with an error status (not found, rate limited, ...), or sent too much. */
export class TransferError extends CodedError<TransferErrorCode> {
  constructor(
    readonly status: StatusCode,
    message: string,
  ) {
    super(TRANSFER_CODES[status] ?? 'internal', message);
  }
  get statusName(): string {
    return STATUS_NAMES[this.status] ?? `status ${this.status}`;
  }
}

export interface ServeOptions {
  store: ContentStore;
  /** Token buckets by remote peer and by remote address: a request takes one from each. */
  limits: { perPeer: RateLimiter; perAddress: RateLimiter };
  /** Largest object this protocol sends. */
  maxBytes: number;
  /** How long a requester may take to send its 32 bytes and close. */
  requestTimeoutMs: number;
  /** Counts the bytes this answer sent and received. */
  meter?: TransferMeter;
  /** Set when this node serves nothing now (a tab at its data cap): why, as the refusal says it. */
  notServing?: string;
}

/** Who sent a request: its peer id, and its IP address (addressKey) when the connection came straight from it. */
export interface Requester {
  peer: string;
  address?: string;
}

/** Answers one inbound request from `remote` on `stream`. Never throws. */
export async function serveObject(stream: Stream, remote: Requester, options: ServeOptions): Promise<void> {
  const timeout = setTimeout(
    () => stream.abort(new ProtocolError(`request not received within ${options.requestTimeoutMs} ms`)),
    options.requestTimeoutMs,
  );
  try {
    // Refused like a busy peer: the requester tries its next source (the hub holds every committed payload).
    if (options.notServing !== undefined) return await refuse(stream, Status.rateLimited, options.notServing, options.meter);
    // Both buckets, so that fresh peer ids from one address share that address's budget.
    const limited = !options.limits.perPeer.take(remote.peer)
      ? 'this peer'
      : remote.address !== undefined && !options.limits.perAddress.take(remote.address)
        ? 'this address'
        : undefined;
    const meter = options.meter;
    if (limited)
      return await refuse(stream, Status.rateLimited, `too many requests from ${limited}: slow down and retry in a few seconds`, meter);
    const reader = new StreamReader(stream, meter);
    let digest: Uint8Array;
    try {
      digest = await reader.read(HASH_BYTES, 'the requested hash');
      if (!(await reader.atEnd())) throw new ProtocolError(`the request is longer than ${HASH_BYTES} bytes`);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      return await refuse(
        stream,
        Status.badRequest,
        `malformed request: ${err.message}; send exactly the 32-byte blake3 digest, then close`,
        meter,
      );
    }
    clearTimeout(timeout);
    const hash = bytesToHex(digest);
    const bytes = await options.store.get(hash);
    if (!bytes) return await refuse(stream, Status.notFound, `object ${hash} is not held here`, meter);
    if (bytes.byteLength > options.maxBytes)
      return await refuse(
        stream,
        Status.tooLarge,
        `object ${hash} has ${bytes.byteLength} bytes, more than this protocol's ${options.maxBytes}`,
        meter,
      );
    await sendAll(stream, Uint8Array.of(Status.ok), undefined, meter);
    await sendAll(stream, u32le(bytes.byteLength), undefined, meter);
    for (let offset = 0; offset < bytes.byteLength; offset += MAX_FRAME_BYTES) {
      const frame = bytes.subarray(offset, Math.min(bytes.byteLength, offset + MAX_FRAME_BYTES));
      await sendAll(stream, u32le(frame.byteLength), undefined, meter);
      await sendAll(stream, frame, undefined, meter);
    }
    await stream.close();
  } catch (err) {
    stream.abort(asError(err));
  } finally {
    clearTimeout(timeout);
  }
}

async function refuse(stream: Stream, status: StatusCode, message: string, meter?: TransferMeter): Promise<void> {
  const text = new TextEncoder().encode(message).subarray(0, MAX_ERROR_MESSAGE_BYTES);
  const header = new Uint8Array(3);
  header[0] = status;
  new DataView(header.buffer).setUint16(1, text.byteLength, true);
  await sendAll(stream, header, undefined, meter);
  await sendAll(stream, text, undefined, meter);
  await stream.close();
}

export interface FetchOptions {
  /** Refuse (before allocating) any object larger than this. */
  maxBytes: number;
  signal?: AbortSignal;
  /** Counts the bytes this fetch sent and received. */
  meter?: TransferMeter;
}

/** Requests `hash` on a fresh stream and returns its verified bytes. Aborts the stream on any error. */
export async function fetchObject(stream: Stream, hash: string, options: FetchOptions): Promise<Uint8Array> {
  hash = toContentHash(hash, 'requested hash');
  const onAbort = () => stream.abort(options.signal?.reason instanceof Error ? options.signal.reason : new Error('fetch aborted'));
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    options.signal?.throwIfAborted();
    await sendAll(stream, hexToBytes(hash), options.signal, options.meter);
    await stream.close({ signal: options.signal });
    const reader = new StreamReader(stream, options.meter);
    const [status] = await reader.read(1, 'the response status');
    if (status !== Status.ok) {
      const length = new DataView((await reader.read(2, 'the error length')).buffer).getUint16(0, true);
      if (length > MAX_ERROR_MESSAGE_BYTES) throw new ProtocolError(`error message of ${length} bytes exceeds ${MAX_ERROR_MESSAGE_BYTES}`);
      // The peer's own words: printable, since they end up in logs and on screens.
      const message = printable(new TextDecoder().decode(await reader.read(length, 'the error message')));
      throw new TransferError(status as StatusCode, `peer refused ${hash}: ${STATUS_NAMES[status!] ?? `status ${status}`}: ${message}`);
    }
    const total = readU32le(await reader.read(4, 'the object size'));
    if (total > options.maxBytes) {
      throw new TransferError(
        Status.tooLarge,
        `peer announced ${total} bytes for ${hash}, more than the ${options.maxBytes} allowed; not downloading it`,
      );
    }
    const bytes = new Uint8Array(total);
    const hasher = await createContentHasher();
    let filled = 0;
    while (filled < total) {
      const length = readU32le(await reader.read(4, 'a frame length'));
      if (length === 0 || length > MAX_FRAME_BYTES)
        throw new ProtocolError(`frame of ${length} bytes: frames carry 1 to ${MAX_FRAME_BYTES} bytes`);
      if (filled + length > total) throw new ProtocolError(`frames exceed the announced ${total} bytes`);
      const frame = bytes.subarray(filled, filled + length);
      await reader.readInto(frame, 'a frame');
      hasher.update(frame);
      filled += length;
    }
    if (!(await reader.atEnd())) throw new ProtocolError(`bytes after the announced ${total} bytes`);
    const received = hasher.digest();
    if (received !== hash)
      throw new ProtocolError(`hash mismatch: asked for ${hash}, received bytes hashing to ${received}; the peer is faulty or malicious`);
    return bytes;
  } catch (err) {
    stream.abort(asError(err));
    throw err;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}
