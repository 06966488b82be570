// The hub's content-addressed store on disk: each object is `objects/<blake3 hex>`, written
// atomically (a crash never leaves a half-written object under its hash), and hashed again when
// read, so a corrupted file is reported and removed, never served.
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomically } from '../base/files.ts';
import { type ContentStore } from '../swarm/content.ts';
import { contentHash, isContentHash, type ContentHash } from '../base/content-hash.ts';

export class DiskContentStore implements ContentStore {
  private readonly dir: string;

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'objects');
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  pathOf(hash: ContentHash): string {
    if (!isContentHash(hash)) throw new Error(`not a content hash: ${JSON.stringify(hash)}`);
    return join(this.dir, hash);
  }

  async has(hash: ContentHash): Promise<boolean> {
    if (!isContentHash(hash)) return false;
    return stat(this.pathOf(hash)).then(
      (s) => s.isFile(),
      () => false,
    );
  }

  async get(hash: ContentHash): Promise<Uint8Array | undefined> {
    if (!isContentHash(hash)) return undefined;
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await readFile(this.pathOf(hash)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const actual = contentHash(bytes);
    if (actual !== hash) {
      console.error(`hub store: ${this.pathOf(hash)} is corrupted (its bytes hash to ${actual}); removing it`);
      await rm(this.pathOf(hash), { force: true });
      return undefined;
    }
    return bytes;
  }

  async put(bytes: Uint8Array): Promise<ContentHash> {
    const hash = contentHash(bytes);
    if (await this.has(hash)) return hash;
    await writeFileAtomically(this.pathOf(hash), bytes);
    return hash;
  }
}
