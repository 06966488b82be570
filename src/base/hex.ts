// Hex, one way everywhere: lowercase, two digits a byte. Content hashes travel bare
// (src/base/content-hash.ts); signed objects spell bytes with a 0x prefix (src/identity/fields.ts).
import { bytesToHex as nobleBytesToHex, hexToBytes as nobleHexToBytes } from '@noble/hashes/utils.js';

/** `0x` followed by lowercase hex: the spelling of bytes inside signed objects. */
export type PrefixedHex = `0x${string}`;

export function bytesToHex(bytes: Uint8Array): string {
  return nobleBytesToHex(bytes);
}

/** Bytes from an even-length hex string, with or without 0x; throws on anything else. */
export function hexToBytes(hex: string): Uint8Array {
  return nobleHexToBytes(hex.startsWith('0x') ? hex.slice(2) : hex);
}

export function prefixedHex(bytes: Uint8Array): PrefixedHex {
  return `0x${nobleBytesToHex(bytes)}`;
}

/** Random bytes as lowercase hex (secrets, nonces): `n` bytes from the platform's CSPRNG. */
export function randomHex(n: number): string {
  return nobleBytesToHex(crypto.getRandomValues(new Uint8Array(n)));
}
