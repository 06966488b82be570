// A registration's proof of work: the binding's id (blake3 of its canonical bytes) must begin with
// the number of zero bits the run's genesis fixes (docs/PROTOCOL.md, "Registration cost"). The
// binding's 16-byte nonce is the free variable: its first 8 bytes stay random (two sessions never
// share a binding), the last 8 count up until the id qualifies. About 2^bits hashes of the binding's
// ~420 canonical bytes: 19 bits is under a second on one core with the WASM BLAKE3. The search
// yields to the event loop every few milliseconds, so a tab's page stays responsive while it runs.
import { blake3, blake3Ready } from '../base/blake3.ts';
import type { Hex } from './fields.ts';

/** Leading zero bits of a hash (0x-hex or bytes). */
export function leadingZeroBits(hash: Hex | Uint8Array): number {
  const bytes =
    typeof hash === 'string'
      ? hash
          .slice(2)
          .match(/../g)!
          .map((b) => parseInt(b, 16))
      : hash;
  let bits = 0;
  for (const byte of bytes) {
    if (byte !== 0) return bits + Math.clz32(byte) - 24;
    bits += 8;
  }
  return bits;
}

const HEX_DIGITS = [...'0123456789abcdef'].map((c) => c.charCodeAt(0));
/** How long the search runs before it lets the event loop in (ms). */
const SLICE_MS = 25;

/**
 * Finds a nonce for the binding whose canonical bytes are `bytes` with its nonce's 32 hex digits
 * at `[offset, offset + 32)`, such that blake3(bytes) has at least `bits` leading zero bits.
 * Keeps the nonce's first 16 hex digits; returns the whole nonce, 0x-prefixed. `bytes` is changed.
 */
export async function findWorkNonce(bytes: Uint8Array, offset: number, bits: number, signal?: AbortSignal): Promise<Hex> {
  await blake3Ready();
  const nonce = (): Hex => `0x${new TextDecoder().decode(bytes.subarray(offset, offset + 32))}`;
  if (leadingZeroBits(blake3(bytes)) >= bits) return nonce();
  // The nonce's last 16 hex digits count the tries (up to 2^53, far beyond any difficulty a tab can pay).
  for (let counter = 0; ;) {
    const sliceEnd = performance.now() + SLICE_MS;
    while (performance.now() < sliceEnd) {
      for (let i = 0; i < 1024; i++) {
        counter++;
        for (let d = offset + 31, c = counter; d >= offset + 16; d--, c = Math.floor(c / 16)) bytes[d] = HEX_DIGITS[c % 16]!;
        if (leadingZeroBits(blake3(bytes)) >= bits) return nonce();
      }
    }
    signal?.throwIfAborted();
    await new Promise((wake) => setTimeout(wake, 0));
  }
}
