// The one byte form of every signed or hashed identity and chain object: canonical JSON, UTF-8.
// Keys sorted by UTF-16 code unit order (what Array.prototype.sort does), no whitespace, numbers
// only as safe integers, no undefined / NaN / floats. JSON text rather than a binary codec because
// the wallet extension shows the bytes it is asked to sign: a participant sees what they bind.
// Hashes are blake3 (as for payloads and models, docs/PROTOCOL.md), written as 0x-prefixed hex.
import { blake3 } from '../base/blake3.ts';
import { prefixedHex } from '../base/hex.ts';
import { IdentityError } from './errors.ts';

export type CanonicalValue = null | boolean | number | string | readonly CanonicalValue[] | { readonly [key: string]: CanonicalValue };

const encoder = new TextEncoder();

/**
 * Deepest nesting of arrays and objects that canonical JSON holds. Our objects nest 5 levels at
 * most (an extrinsic around a signed object around its fields); JSON.parse builds 100,000 levels
 * happily, and recursing through a few thousand overflows the stack.
 */
const MAX_CANONICAL_DEPTH = 32;

/** Canonical JSON text of `value`; throws IdentityError('malformed') for anything it cannot represent exactly. */
export function canonicalJson(value: unknown): string {
  return canonicalAt(value, 0);
}

function canonicalAt(value: unknown, depth: number): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isSafeInteger(value)) throw new IdentityError('malformed', `canonical JSON holds only safe integers, found ${value}`);
      return Object.is(value, -0) ? '0' : String(value);
    case 'string':
      return JSON.stringify(value);
    case 'object': {
      // Checked before going deeper, so that no input can exhaust the stack.
      if (depth >= MAX_CANONICAL_DEPTH)
        throw new IdentityError('malformed', `canonical JSON nests at most ${MAX_CANONICAL_DEPTH} arrays and objects deep; this is deeper`);
      if (Array.isArray(value)) return `[${value.map((item) => canonicalAt(item, depth + 1)).join(',')}]`;
      if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) {
        throw new IdentityError(
          'malformed',
          `canonical JSON holds only plain objects, found a ${value.constructor?.name ?? 'non-plain object'}`,
        );
      }
      const entries = Object.entries(value as Record<string, unknown>);
      for (const [key, v] of entries)
        if (v === undefined) throw new IdentityError('malformed', `canonical JSON cannot hold undefined (field '${key}')`);
      entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalAt(v, depth + 1)}`).join(',')}}`;
    }
    default:
      throw new IdentityError('malformed', `canonical JSON cannot hold a ${typeof value}`);
  }
}

/** UTF-8 bytes of canonicalJson(value): what is signed and hashed. */
export function canonicalBytes(value: unknown): Uint8Array {
  return encoder.encode(canonicalJson(value));
}

/** blake3 of `bytes` as 0x + 64 lowercase hex digits. */
function blake3Hex(bytes: Uint8Array): `0x${string}` {
  return prefixedHex(blake3(bytes));
}

/** blake3 of the canonical bytes of `value`. */
export function canonicalHash(value: unknown): `0x${string}` {
  return blake3Hex(canonicalBytes(value));
}
