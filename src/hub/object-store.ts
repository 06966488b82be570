// The hub's content-addressed store on disk: each object is `objects/<blake3 hex>`, written to a
// temporary file and renamed into place (a crash never leaves a half-written object under its
// hash), and hashed again when read, so a corrupted file is reported and removed, never served.
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ContentStore } from '../swarm/content.ts';
import { contentHash, isContentHash } from '../base/content-hash.ts';

export class DiskContentStore implements ContentStore {
  private readonly dir: string;
  private tmpCounter = 0;

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'objects');
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  pathOf(hash: string): string {
    if (!isContentHash(hash)) throw new Error(`not a content hash: ${JSON.stringify(hash)}`);
    return join(this.dir, hash);
  }

  async has(hash: string): Promise<boolean> {
    if (!isContentHash(hash)) return false;
    return stat(this.pathOf(hash)).then(
      (s) => s.isFile(),
      () => false,
    );
  }

  async get(hash: string): Promise<Uint8Array | undefined> {
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

  async put(bytes: Uint8Array): Promise<string> {
    const hash = contentHash(bytes);
    if (await this.has(hash)) return hash;
    const tmp = join(this.dir, `.tmp-${process.pid}-${this.tmpCounter++}-${hash}`);
    await writeFile(tmp, bytes);
    await rename(tmp, this.pathOf(hash));
    return hash;
  }
}
