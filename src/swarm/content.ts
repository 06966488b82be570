// Content addressing for the swarm: objects (payloads, checkpoints) are named by the blake3 hash
// of their bytes, as 64 lowercase hex characters, and kept in a ContentStore that the transfer
// protocols serve from. BLAKE3 runs in WebAssembly (hash-wasm, about 15x faster than JavaScript
// here), and the same digest as @noble/hashes' blake3 used elsewhere in the project.
import { createBLAKE3, type IHasher } from 'hash-wasm';

const CONTENT_HASH = /^[0-9a-f]{64}$/;

export function isContentHash(value: unknown): value is string {
  return typeof value === 'string' && CONTENT_HASH.test(value);
}

/**
 * The swarm's spelling of a hash (64 lowercase hex) from either it or identity's `0x` spelling
 * (announcements and decisions name payloads as 0x + hex); throws for anything else.
 */
export function toContentHash(value: unknown, what = 'content hash'): string {
  const plain = typeof value === 'string' && value.startsWith('0x') ? value.slice(2) : value;
  if (!isContentHash(plain))
    throw new Error(
      `${what} must be 64 lowercase hex characters, optionally after 0x (a blake3 digest), got ${JSON.stringify(String(value).slice(0, 80))}`,
    );
  return plain;
}

/** An incremental blake3: feed frames as they arrive, read the hex digest at the end. */
export async function createContentHasher(): Promise<{ update(bytes: Uint8Array): void; digestHex(): string }> {
  const hasher: IHasher = await createBLAKE3();
  hasher.init();
  return {
    update: (bytes) => void hasher.update(bytes),
    digestHex: () => hasher.digest('hex'),
  };
}

export async function contentHash(bytes: Uint8Array): Promise<string> {
  const hasher = await createContentHasher();
  hasher.update(bytes);
  return hasher.digestHex();
}

export function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function bytesToHex(bytes: Uint8Array): string {
  let hex = '';
  for (const b of bytes) hex += b.toString(16).padStart(2, '0');
  return hex;
}

/**
 * Where a node keeps the objects it serves. `put` hashes the bytes and returns the hash; `get`
 * returns bytes whose hash has been checked, or undefined when the object is not held.
 */
export interface ContentStore {
  get(hash: string): Promise<Uint8Array | undefined>;
  put(bytes: Uint8Array): Promise<string>;
  has(hash: string): Promise<boolean>;
}

/**
 * A store in memory: a browser tab keeps its own payloads and the ones it fetched for the
 * current rounds here. Bounded by `maxBytes`; the oldest objects are dropped first.
 */
export class MemoryContentStore implements ContentStore {
  private readonly objects = new Map<string, Uint8Array>();
  private totalBytes = 0;

  constructor(private readonly maxBytes = 512 * 1024 * 1024) {}

  async get(hash: string): Promise<Uint8Array | undefined> {
    return this.objects.get(hash);
  }

  async has(hash: string): Promise<boolean> {
    return this.objects.has(hash);
  }

  async put(bytes: Uint8Array): Promise<string> {
    if (bytes.byteLength > this.maxBytes)
      throw new Error(`object of ${bytes.byteLength} bytes exceeds this store's capacity of ${this.maxBytes} bytes`);
    const hash = await contentHash(bytes);
    if (this.objects.has(hash)) return hash;
    this.objects.set(hash, bytes);
    this.totalBytes += bytes.byteLength;
    for (const [oldest, old] of this.objects) {
      if (this.totalBytes <= this.maxBytes) break;
      this.objects.delete(oldest);
      this.totalBytes -= old.byteLength;
    }
    return hash;
  }
}
