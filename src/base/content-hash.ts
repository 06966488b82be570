// Content addressing: payloads, checkpoints and every other object are named by the blake3 hash
// of their bytes, spelled as 64 lowercase hex characters (`ContentHash`). Signed objects
// (announcements, decisions) carry the same digest as `0x` + hex; `toContentHash` reads either
// spelling at the boundary, `signedHash` writes the signed one.
import { blake3, createBlake3Stream } from './blake3.ts';
import { bytesToHex, type PrefixedHex } from './hex.ts';

/** A blake3 digest as 64 lowercase hex characters. */
export type ContentHash = string;

const CONTENT_HASH = /^[0-9a-f]{64}$/;

export function isContentHash(value: unknown): value is ContentHash {
  return typeof value === 'string' && CONTENT_HASH.test(value);
}

/** The content hash of `bytes`. */
export function contentHash(bytes: Uint8Array): ContentHash {
  return bytesToHex(blake3(bytes));
}

/** The bare spelling of a hash given bare or with 0x (as signed objects name it); throws for anything else. */
export function toContentHash(value: unknown, what = 'content hash'): ContentHash {
  const plain = typeof value === 'string' && value.startsWith('0x') ? value.slice(2) : value;
  if (!isContentHash(plain)) {
    throw new TypeError(
      `${what} must be 64 lowercase hex characters, optionally after 0x (a blake3 digest), got ${JSON.stringify(String(value).slice(0, 80))}`,
    );
  }
  return plain;
}

/** The spelling of a content hash inside a signed object. */
export function signedHash(hash: ContentHash): PrefixedHex {
  return `0x${toContentHash(hash)}`;
}

/** An incremental content hash for bytes that arrive over time (a transfer's frames). */
export async function createContentHasher(): Promise<{ update(bytes: Uint8Array): void; digest(): ContentHash }> {
  const stream = await createBlake3Stream();
  return { update: (bytes) => stream.update(bytes), digest: () => bytesToHex(stream.digest()) };
}
