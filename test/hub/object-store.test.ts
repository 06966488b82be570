// The hub's object store hashes a file once: reads of a file unchanged since it was written or
// verified are served without hashing it again; a file that changed is hashed again, and removed
// if its bytes no longer match its name.
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import * as contentHashes from '../../src/base/content-hash.ts';
import { DiskContentStore } from '../../src/hub/object-store.ts';

// Count the store's hashing without changing it.
vi.mock('../../src/base/content-hash.ts', { spy: true });
const hashing = vi.mocked(contentHashes.contentHash);

describe('DiskContentStore', () => {
  let store: DiskContentStore;
  beforeEach(async () => {
    store = new DiskContentStore(await mkdtemp(join(tmpdir(), 'webloco-store-')));
    await store.init();
  });

  it('hashes an object once, not on every read, and again when its file changed', async () => {
    const bytes = new Uint8Array(64 * 1024).map((_, i) => i % 251);
    const hash = await store.put(bytes);
    hashing.mockClear();
    expect(await store.get(hash)).toEqual(bytes);
    expect(await store.verifiedFile(hash)).toEqual({ path: store.pathOf(hash), size: bytes.byteLength });
    expect(await store.get(hash)).toEqual(bytes);
    expect(hashing).not.toHaveBeenCalled(); // written by the store: known good

    // Rewritten with the same bytes: hashed once more, then remembered again.
    writeFileSync(store.pathOf(hash), readFileSync(store.pathOf(hash)));
    expect(await store.get(hash)).toEqual(bytes);
    expect(await store.get(hash)).toEqual(bytes);
    expect(hashing).toHaveBeenCalledTimes(1);

    // Corrupted in place (same size): caught on the next read and removed.
    const corrupt = bytes.slice();
    corrupt[100] = corrupt[100]! ^ 1;
    writeFileSync(store.pathOf(hash), corrupt);
    vi.spyOn(console, 'error').mockImplementation(() => {});
    expect(await store.get(hash)).toBeUndefined();
    expect(await store.has(hash)).toBe(false);
  });
});
