// Keys that sign without a wallet prompt: a tab's session key (made in the browser from a random
// seed, it signs every announcement so the extension is asked once per session), the dev chain's
// authority key and the validator's key. sr25519 (as Bittensor hotkeys) or ed25519, all through
// @polkadot/util-crypto; call `await cryptoReady()` once before any of them (sr25519 is WASM).
import { u8aToHex } from '@polkadot/util';
import {
  cryptoWaitReady,
  ed25519PairFromSeed,
  ed25519Sign,
  ed25519Verify,
  encodeAddress,
  sr25519PairFromSeed,
  sr25519Sign,
  sr25519Verify,
} from '@polkadot/util-crypto';
import { SS58_PREFIX, type Hex } from './fields.ts';

export type KeyType = 'sr25519' | 'ed25519';
export const KEY_TYPES: readonly KeyType[] = ['sr25519', 'ed25519'];

/** Loads the WASM that sr25519 needs; idempotent. */
export async function cryptoReady(): Promise<void> {
  await cryptoWaitReady();
}

/** A key pair held in memory. The seed never leaves the object except through `seed` (for the hub's own key store). */
export class SigningKey {
  readonly type: KeyType;
  readonly publicKey: Uint8Array;
  readonly #secretKey: Uint8Array;
  readonly #seed: Uint8Array;

  private constructor(type: KeyType, seed: Uint8Array) {
    if (seed.length !== 32) throw new RangeError(`a ${type} seed is 32 bytes, got ${seed.length}`);
    const pair = type === 'sr25519' ? sr25519PairFromSeed(seed) : ed25519PairFromSeed(seed);
    this.type = type;
    this.publicKey = pair.publicKey;
    this.#secretKey = pair.secretKey;
    this.#seed = seed.slice();
  }

  /** A fresh key from 32 bytes of crypto.getRandomValues. */
  static generate(type: KeyType = 'sr25519'): SigningKey {
    return new SigningKey(type, crypto.getRandomValues(new Uint8Array(32)));
  }

  static fromSeed(seed: Uint8Array, type: KeyType = 'sr25519'): SigningKey {
    return new SigningKey(type, seed);
  }

  get seed(): Uint8Array {
    return this.#seed.slice();
  }

  /** The public key as 0x-hex (how bindings and blocks name it). */
  get publicKeyHex(): Hex {
    return u8aToHex(this.publicKey);
  }

  /** The public key as an SS58 address with prefix 42. */
  get address(): string {
    return encodeAddress(this.publicKey, SS58_PREFIX);
  }

  /** Signs `message` as is (no <Bytes> wrapping: only wallet extensions wrap). */
  sign(message: Uint8Array): Hex {
    const keypair = { publicKey: this.publicKey, secretKey: this.#secretKey };
    return u8aToHex(this.type === 'sr25519' ? sr25519Sign(message, keypair) : ed25519Sign(message, keypair));
  }
}

/** True when `signature` (64 bytes, hex) is `type`'s signature of exactly `message` by `publicKey`. */
export function verifySignature(type: KeyType, message: Uint8Array, signature: Hex, publicKey: Uint8Array): boolean {
  if (!/^0x[0-9a-fA-F]{128}$/.test(signature)) return false;
  try {
    return type === 'sr25519' ? sr25519Verify(message, signature, publicKey) : ed25519Verify(message, signature, publicKey);
  } catch {
    return false; // a malformed key or signature (wrong length, not a curve point) verifies nothing
  }
}
