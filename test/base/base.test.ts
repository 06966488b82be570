// The base level: one BLAKE3 (WASM, equal to @noble's digests), one hex, one content-hash
// spelling, one coded error.
import { blake3 as nobleBlake3 } from '@noble/hashes/blake3.js';
import { describe, expect, it } from 'vitest';
import { blake3, blake3Ready, blake3Stream, createBlake3Stream } from '../../src/base/blake3.ts';
import { contentHash, createContentHasher, isContentHash, signedHash, toContentHash } from '../../src/base/content-hash.ts';
import { CodedError, errorMessage } from '../../src/base/errors.ts';
import { bytesToHex, hexToBytes, prefixedHex, randomHex } from '../../src/base/hex.ts';
import { printable } from '../../src/base/log-text.ts';
import { rng } from '../helpers/random.ts';

describe('BLAKE3', () => {
  it("loads its WASM in Node, and gives @noble's digests across chunk and tree boundaries, whole or in pieces", async () => {
    expect(await blake3Ready()).toBe('wasm');
    const random = rng(7);
    // BLAKE3 works in 64-byte blocks and 1024-byte chunks merged in a binary tree: lengths around
    // each boundary, several tree depths, and one input fed in uneven pieces as the model hash does.
    const lengths = [0, 1, 63, 64, 65, 1023, 1024, 1025, 2048, 2049, 3072, 4097, 8192 + 7, 65536, 1 << 20, (1 << 20) + 4093];
    for (const length of lengths) {
      const data = Uint8Array.from({ length }, () => Math.floor(random() * 256));
      const expected = bytesToHex(nobleBlake3(data));
      expect(bytesToHex(blake3(data)), `${length} bytes`).toBe(expected);
      const pieces = blake3Stream();
      for (let at = 0; at < length; at += 1 + (at % 5000)) pieces.update(data.subarray(at, Math.min(length, at + 1 + (at % 5000))));
      expect(bytesToHex(pieces.digest()), `${length} bytes in pieces`).toBe(expected);
    }
  });

  it('keeps a stream of its own across awaits while other hashes run in between', async () => {
    const data = Uint8Array.from({ length: 5000 }, (_, i) => i % 251);
    const stream = await createBlake3Stream();
    stream.update(data.subarray(0, 2000));
    await Promise.resolve();
    blake3(new Uint8Array(100)); // the shared hasher is used meanwhile
    stream.update(data.subarray(2000));
    expect(bytesToHex(stream.digest())).toBe(bytesToHex(nobleBlake3(data)));
  });
});

describe('content hashes', () => {
  it('name bytes by 64 lowercase hex digits, and read the 0x spelling of signed objects', async () => {
    const bytes = new TextEncoder().encode('payload');
    const hash = contentHash(bytes);
    expect(isContentHash(hash)).toBe(true);
    expect(hash).toBe(bytesToHex(nobleBlake3(bytes)));
    expect(toContentHash(signedHash(hash))).toBe(hash);
    expect(signedHash(hash)).toBe(`0x${hash}`);
    const hasher = await createContentHasher();
    hasher.update(bytes.subarray(0, 3));
    hasher.update(bytes.subarray(3));
    expect(hasher.digest()).toBe(hash);
  });

  it('refuse anything else, saying what a content hash is', () => {
    for (const bad of ['', '0x', 'AB'.repeat(32), 'ab'.repeat(31), `0x${'g'.repeat(64)}`, 42, null]) {
      expect(() => toContentHash(bad, 'payload hash')).toThrow(/payload hash must be 64 lowercase hex characters/);
    }
  });
});

describe('hex', () => {
  it('round-trips bytes, with or without 0x', () => {
    const bytes = Uint8Array.of(0, 1, 0xab, 0xff);
    expect(bytesToHex(bytes)).toBe('0001abff');
    expect(prefixedHex(bytes)).toBe('0x0001abff');
    expect(hexToBytes('0001abff')).toEqual(bytes);
    expect(hexToBytes('0x0001abff')).toEqual(bytes);
    expect(() => hexToBytes('abc')).toThrow();
    expect(randomHex(32)).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('errors', () => {
  it('carry a code and their class name, and errorMessage reads anything thrown', () => {
    class ExampleError extends CodedError<'bad-thing'> {}
    const err = new ExampleError('bad-thing', 'a bad thing: do the other thing');
    expect(err.code).toBe('bad-thing');
    expect(err.name).toBe('ExampleError');
    expect(err).toBeInstanceOf(Error);
    expect(errorMessage(err)).toBe('a bad thing: do the other thing');
    expect(errorMessage('plain')).toBe('plain');
    expect(errorMessage(7)).toBe('7');
  });
});

describe('printable (text a stranger controls, on one log line)', () => {
  it('escapes newlines, terminal escapes, C1 controls and bidirectional overrides, and cuts long text', () => {
    expect(printable('refused\nhub: payload accepted\r\u001b[31mred\u009b\u202eevil\u2028')).toBe(
      'refused\\nhub: payload accepted\\r\\u001b[31mred\\u009b\\u202eevil\\u2028',
    );
    expect(printable('plain text, ünïcödé and emoji 🙂 stay')).toBe('plain text, ünïcödé and emoji 🙂 stay');
    expect(printable('x'.repeat(1500))).toBe(`${'x'.repeat(1000)}… (500 more characters)`);
  });
});
