// safetensors read/write (https://github.com/huggingface/safetensors): u64 LE header length, a
// JSON header {name: {dtype, shape, data_offsets}, __metadata__?}, then the tensor bytes.
// Files come from strangers (checkpoints, peers), so everything is validated before any tensor
// is allocated. Uint8Array in and out: no fs, works in Node, workers and pages.
import { errorMessage } from '../base/errors.ts';
import { CodedError } from '../base/errors.ts';

export type TensorDtype = 'F32' | 'I32';

export interface Tensor {
  dtype: TensorDtype;
  shape: number[];
  data: Float32Array | Int32Array;
}

export interface SafetensorsFile {
  /** In file order (data_offsets ascending). */
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

/** The reference implementation's cap: larger headers are treated as malicious. */
const MAX_HEADER_BYTES = 100_000_000;
const MAX_DIMS = 8;
const BYTES: Record<TensorDtype, number> = { F32: 4, I32: 4 };
const KNOWN_OTHER_DTYPES = ['BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'I16', 'U16', 'F16', 'BF16', 'U32', 'F64', 'I64', 'U64'];

/** A file that is not valid safetensors (or not one WebLoCo can read): the message says what is wrong. */
export class SafetensorsError extends CodedError<'invalid-safetensors'> {
  constructor(message: string) {
    super('invalid-safetensors', message);
  }
}

function fail(why: string): never {
  throw new SafetensorsError(`invalid safetensors file: ${why}`);
}

function assertLittleEndianHost(): void {
  if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw new SafetensorsError('safetensors needs a little-endian host');
}

export function readSafetensors(bytes: Uint8Array): SafetensorsFile {
  assertLittleEndianHost();
  if (bytes.byteLength < 8) fail(`${bytes.byteLength} bytes is shorter than the 8-byte header length`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLength} exceeds ${MAX_HEADER_BYTES} bytes`);
  const n = Number(headerLength);
  if (n < 2 || 8 + n > bytes.byteLength) fail(`header length ${n} does not fit in a ${bytes.byteLength}-byte file`);
  let header: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
    if (!text.startsWith('{')) fail('header does not start with {');
    header = JSON.parse(text);
  } catch (err) {
    if (err instanceof SafetensorsError) throw err;
    fail(`header is not UTF-8 JSON (${errorMessage(err)})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const dataBytes = bytes.byteLength - 8 - n;

  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: TensorDtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__.${k} must be a string`);
        metadata[k] = v;
      }
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`entry '${name}' is not an object`);
    const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
    if (typeof dtype !== 'string') fail(`tensor '${name}' has no dtype`);
    if (!(dtype in BYTES)) {
      const why = KNOWN_OTHER_DTYPES.includes(dtype) ? 'is not supported' : 'is unknown';
      fail(
        `tensor '${name}' has dtype ${dtype}, which ${why}: WebLoCo reads F32 tensors (and I32 token ids); convert the file to float32 first`,
      );
    }
    if (!Array.isArray(shape) || shape.length > MAX_DIMS || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`tensor '${name}' has shape ${JSON.stringify(shape)}; expected up to ${MAX_DIMS} non-negative integers`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      fail(`tensor '${name}' has data_offsets ${JSON.stringify(offsets)}; expected [begin, end]`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataBytes) fail(`tensor '${name}' data_offsets [${begin}, ${end}] fall outside the ${dataBytes} data bytes`);
    const elements = (shape as number[]).reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(elements) || elements * BYTES[dtype as TensorDtype] !== end - begin) {
      fail(
        `tensor '${name}' of shape [${shape}] ${dtype} needs ${elements * BYTES[dtype as TensorDtype]} bytes but data_offsets span ${end - begin}`,
      );
    }
    entries.push({ name, dtype: dtype as TensorDtype, shape: shape as number[], begin, end });
  }
  // As the reference reader: the tensors tile the data section exactly, no gaps, no overlaps.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const e of entries) {
    if (e.begin !== cursor)
      fail(`tensor '${e.name}' starts at byte ${e.begin}, expected ${cursor} (${e.begin < cursor ? 'overlap' : 'gap'})`);
    cursor = e.end;
  }
  if (cursor !== dataBytes) fail(`tensors cover ${cursor} of ${dataBytes} data bytes`);

  const tensors = new Map<string, Tensor>();
  const base = bytes.byteOffset + 8 + n;
  for (const e of entries) {
    // Copy: the source offset need not be 4-byte aligned and the caller may reuse its buffer.
    const copy = bytes.buffer.slice(base + e.begin, base + e.end) as ArrayBuffer;
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: e.dtype === 'F32' ? new Float32Array(copy) : new Int32Array(copy) });
  }
  return { tensors, metadata };
}

export function writeSafetensors(
  tensors: Iterable<[string, Tensor]> | Record<string, Tensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  assertLittleEndianHost();
  const list = Symbol.iterator in tensors ? [...tensors] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of list) {
    if (name === '__metadata__') throw new SafetensorsError("a tensor cannot be named '__metadata__'");
    if (name in header) throw new SafetensorsError(`tensor '${name}' appears twice`);
    const expected = t.dtype === 'F32' ? Float32Array : Int32Array;
    if (!(t.data instanceof expected)) throw new SafetensorsError(`tensor '${name}': dtype ${t.dtype} needs ${expected.name} data`);
    const elements = t.shape.reduce((a, b) => a * b, 1);
    if (elements !== t.data.length)
      throw new SafetensorsError(`tensor '${name}': shape [${t.shape}] holds ${elements} elements, data has ${t.data.length}`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8; // spaces keep the data section 8-byte aligned
  if (padded !== json.length) {
    const withSpaces = new Uint8Array(padded).fill(0x20);
    withSpaces.set(json);
    json = withSpaces;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const [, t] of list) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}
