// Where a swarm node keeps the objects it serves over the transfer protocols, by content hash
// (src/base/content-hash.ts): the interface, and the bounded in-memory store of tabs and peers.
import { contentHash, type ContentHash } from '../base/content-hash.ts';

/**
 * Where a node keeps the objects it serves. `put` hashes the bytes and returns the hash; `get`
 * returns bytes whose hash has been checked, or undefined when the object is not held.
 */
export interface ContentStore {
  get(hash: ContentHash): Promise<Uint8Array | undefined>;
  put(bytes: Uint8Array): Promise<ContentHash>;
  has(hash: ContentHash): Promise<boolean>;
}

/**
 * A store in memory: a browser tab keeps its own payloads and the ones it fetched for the
 * current rounds here. Bounded by `maxBytes`; the oldest objects are dropped first.
 */
export class MemoryContentStore implements ContentStore {
  private readonly objects = new Map<ContentHash, Uint8Array>();
  private totalBytes = 0;

  constructor(private readonly maxBytes = 512 * 1024 * 1024) {}

  async get(hash: ContentHash): Promise<Uint8Array | undefined> {
    return this.objects.get(hash);
  }

  async has(hash: ContentHash): Promise<boolean> {
    return this.objects.has(hash);
  }

  async put(bytes: Uint8Array): Promise<ContentHash> {
    if (bytes.byteLength > this.maxBytes)
      throw new Error(`object of ${bytes.byteLength} bytes exceeds this store's capacity of ${this.maxBytes} bytes`);
    const hash = contentHash(bytes);
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
