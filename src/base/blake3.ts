// BLAKE3-256, the one hash function of the project (content hashes, model and layout hashes,
// canonical JSON, seeds), wrapped once. Large inputs (θ is hundreds of MB, hashed every round)
// run on hash-wasm's WASM BLAKE3 (about 20× the pure-JS @noble/hashes here, the same digest;
// test/base/blake3.test.ts checks it). WASM loads asynchronously: loading starts when this module
// is imported and the API stays synchronous, answering from @noble until it has loaded (or where
// WASM cannot run). `await blake3Ready()` once at startup makes the first large hash a fast one.
import { blake3 as nobleBlake3 } from '@noble/hashes/blake3.js';
import { createBLAKE3, type IHasher } from 'hash-wasm';

/** A streaming BLAKE3-256: feed bytes, then take the 32-byte digest once. */
export interface Blake3Stream {
  update(bytes: Uint8Array): void;
  digest(): Uint8Array;
}

/**
 * hash-wasm's BLAKE3 instances once their WASM has loaded (null before, or where WASM cannot run):
 * one for one-shot hashes, one for synchronous streams, so a one-shot hash taken while a stream is
 * open (the model hash hashes its layout mid-stream) does not disturb it.
 */
let oneShot: IHasher | null = null;
let streaming: IHasher | null = null;
/** A synchronous stream holds `streaming` until its digest; a second one meanwhile gets @noble's. */
let streamOpen = false;
const loaded: Promise<'wasm' | 'js'> = Promise.all([createBLAKE3(), createBLAKE3()]).then(
  ([a, b]) => {
    oneShot = a;
    streaming = b;
    return 'wasm';
  },
  // No WASM (a CSP without 'wasm-unsafe-eval', an old engine): @noble gives the same digests, slower.
  () => 'js',
);

/**
 * Resolves when the fast (WASM) hash is ready, with the implementation in use: 'wasm', or 'js'
 * where WASM could not load. Hashing before it resolves is correct, only slower.
 */
export function blake3Ready(): Promise<'wasm' | 'js'> {
  return loaded;
}

/** blake3 of `bytes`, 32 bytes. */
export function blake3(bytes: Uint8Array): Uint8Array {
  return oneShot ? oneShot.init().update(bytes).digest('binary') : nobleBlake3(bytes);
}

/**
 * A synchronous stream: use it from first update to digest without awaiting anything in between
 * (it holds the shared WASM hasher until its digest). For a stream that spans awaits (bytes
 * arriving from the network), use `createBlake3Stream`.
 */
export function blake3Stream(): Blake3Stream {
  const wasm = streaming;
  if (!wasm || streamOpen) return nobleBlake3.create();
  streamOpen = true;
  wasm.init();
  return {
    update: (bytes) => void wasm.update(bytes),
    digest: () => {
      streamOpen = false;
      return wasm.digest('binary');
    },
  };
}

/** A stream of its own (a fresh WASM instance, else @noble), safe to feed across awaits. */
export async function createBlake3Stream(): Promise<Blake3Stream> {
  const wasm = await createBLAKE3().catch(() => null); // no WASM here: @noble below
  if (!wasm) return nobleBlake3.create();
  wasm.init();
  return {
    update: (bytes) => void wasm.update(bytes),
    digest: () => wasm.digest('binary'),
  };
}
