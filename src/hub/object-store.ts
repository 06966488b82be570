// The hub's content-addressed store on disk: each object is `objects/<blake3 hex>`, written
// atomically (a crash never leaves a half-written object under its hash), and hashed when first
// read, so a corrupted file is reported and removed, never served. A file is hashed once: the
// store remembers the inode, size and times of every file it wrote or verified, and hashes it
// again only when one of them changed (any write to the file changes its ctime).
import type { Stats } from 'node:fs';
import { mkdir, open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomically } from '../base/files.ts';
import { type ContentStore } from '../swarm/content.ts';
import { contentHash, isContentHash, type ContentHash } from '../base/content-hash.ts';

/** What identifies one version of a file: a rewrite, a replacement or a touch changes it. */
type FileStamp = Pick<Stats, 'dev' | 'ino' | 'size' | 'mtimeMs' | 'ctimeMs'>;

function sameStamp(a: FileStamp | undefined, b: FileStamp): boolean {
  return a !== undefined && a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

export class DiskContentStore implements ContentStore {
  private readonly dir: string;
  /** Files whose bytes hashed to their name, as they were then. */
  private readonly verified = new Map<ContentHash, FileStamp>();

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
    return (await this.read(hash, true))?.bytes;
  }

  /**
   * The object's file and size once its bytes are known to hash to `hash` (hashed now unless the
   * file is unchanged since it was last verified), for serving it as a stream; undefined when not held.
   */
  async verifiedFile(hash: ContentHash): Promise<{ path: string; size: number } | undefined> {
    const found = await this.read(hash, false);
    return found && { path: this.pathOf(hash), size: found.size };
  }

  async put(bytes: Uint8Array): Promise<ContentHash> {
    const hash = contentHash(bytes);
    if (await this.has(hash)) return hash;
    await writeFileAtomically(this.pathOf(hash), bytes);
    // Hashed just now: the file as written needs no hashing when first read.
    this.verified.set(hash, await stat(this.pathOf(hash)));
    return hash;
  }

  /** Reads the object (its bytes when `wanted`, or when it must be hashed), verifying it unless unchanged since the last time. */
  private async read(hash: ContentHash, wanted: boolean): Promise<{ bytes?: Uint8Array; size: number } | undefined> {
    if (!isContentHash(hash)) return undefined;
    const path = this.pathOf(hash);
    let file;
    try {
      file = await open(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    let bytes: Uint8Array;
    let stamp: Stats;
    try {
      stamp = await file.stat();
      if (sameStamp(this.verified.get(hash), stamp))
        return { bytes: wanted ? new Uint8Array(await file.readFile()) : undefined, size: stamp.size };
      bytes = new Uint8Array(await file.readFile());
    } finally {
      await file.close();
    }
    const actual = contentHash(bytes);
    if (actual !== hash) {
      this.verified.delete(hash);
      console.error(`hub store: ${path} is corrupted (its bytes hash to ${actual}); removing it`);
      await rm(path, { force: true });
      return undefined;
    }
    this.verified.set(hash, stamp);
    return { bytes, size: stamp.size };
  }
}
