// The wire codec: exact round trips over several chunk geometries, precise rejection of every
// malformed field, canonicality (every other encoding of a valid update, one free choice at a
// time, is rejected; encode(decode(x)) is x byte for byte), a 10,000-case fuzz (nothing but
// CodecError escapes, nothing is allocated for a rejected payload, never more than the layout's
// bound for an accepted one, every accepted payload is canonical), and the measured compression
// ratio against dense fp32.
import { describe, expect, it } from 'vitest';
import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { rng, randn } from '../helpers/random.ts';
import { randomCompressedTensor, randomUpdate } from './random-update.ts';
import { LAYOUT, ORIGIN, PINNED_WIRE, WIRE, compressedUpdate, pinnedUpdate } from './wire-vectors.ts';
import { ERROR_FEEDBACK_BETA, compressLayout, compressTensor } from '../../src/sparseloco/compress.ts';
import {
  CodecError,
  HEADER_FIXED_BYTES,
  MAX_ABS_VALUE,
  MAX_RICE_PARAMETER,
  TENSOR_FIXED_BYTES,
  bestRiceParameter,
  decodeUpdate,
  decodedBytesBound,
  encodeUpdate,
  maxPayloadBytes,
  wireLayoutOf,
  type CodecErrorCode,
} from '../../src/sparseloco/codec.ts';
import type { CompressedTensor, CompressedUpdate, TensorSpecs } from '../../src/sparseloco/types.ts';

function expectSameUpdate(actual: CompressedUpdate, expected: CompressedUpdate): void {
  expect(actual.tensors.length).toBe(expected.tensors.length);
  actual.tensors.forEach((a, t) => {
    const e = expected.tensors[t]!;
    expect([a.numChunks, a.chunkSize, a.k]).toEqual([e.numChunks, e.chunkSize, e.k]);
    expect(a.indices).toEqual(e.indices);
    expect(a.codes).toEqual(e.codes);
    expect(a.shift).toBe(Math.fround(e.shift));
    expect(a.scale).toBe(Math.fround(e.scale));
    expect(a.lookup).toEqual(e.lookup);
  });
}

/** The same check as expectSameUpdate as one boolean (expect's deep equality is too slow for the fuzz loop). */
function sameUpdate(a: CompressedUpdate, b: CompressedUpdate): boolean {
  const sameArray = (x: ArrayLike<number>, y: ArrayLike<number>) =>
    x.length === y.length && Array.prototype.every.call(x, (v: number, i: number) => Object.is(v, y[i]));
  return (
    a.tensors.length === b.tensors.length &&
    a.tensors.every((x, t) => {
      const y = b.tensors[t]!;
      return (
        x.numChunks === y.numChunks &&
        x.chunkSize === y.chunkSize &&
        x.k === y.k &&
        Object.is(x.shift, y.shift) &&
        Object.is(x.scale, y.scale) &&
        sameArray(x.indices, y.indices) &&
        sameArray(x.codes, y.codes) &&
        sameArray(x.lookup, y.lookup)
      );
    })
  );
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function codecErrorCode(run: () => unknown): CodecErrorCode | 'no error' {
  try {
    run();
  } catch (error) {
    if (error instanceof CodecError) return error.code;
    throw error;
  }
  return 'no error';
}

function withTensor(update: CompressedUpdate, t: number, change: Partial<CompressedTensor>): CompressedUpdate {
  return { tensors: update.tensors.map((x, i) => (i === t ? { ...x, ...change } : x)) };
}

describe('wire codec round trip', () => {
  it('reproduces every field exactly, over tiles, odd tiles, 1-D rows and single-element chunks', () => {
    expect(WIRE.tensors.map((t) => [t.numChunks, t.chunkSize, t.k])).toEqual([
      [6, 4096, 64],
      [2, 2400, 38],
      [2, 35, 2],
      [20, 50, 2],
      [67, 1, 1],
    ]);
    for (let seed = 1; seed <= 5; seed++) {
      const update = randomUpdate(LAYOUT, seed);
      const payload = encodeUpdate(ORIGIN, update, WIRE);
      let allocated = 0;
      const { header, update: decoded } = decodeUpdate(payload, WIRE, { expect: ORIGIN, onAllocate: (b) => (allocated += b) });
      expectSameUpdate(decoded, update);
      expect(encodeUpdate(header, decoded, WIRE)).toEqual(payload);
      expect(header).toMatchObject({ runId: ORIGIN.runId, round: ORIGIN.round, chunkRows: 64, chunkCols: 64, k: 64 });
      expect(header.baseModelHash).toEqual(ORIGIN.baseModelHash);
      expect(header.layoutHash).toEqual(WIRE.layoutHash);
      expect(allocated).toBe(decodedBytesBound(WIRE));
      expect(payload.length).toBeLessThanOrEqual(maxPayloadBytes(WIRE));
    }
  });

  it('round-trips the extremes: indices at both chunk ends, a full chunk, every code value', () => {
    const layout: TensorSpecs = [
      { name: 'w', shape: [64, 64] },
      { name: 'tiny', shape: [4] },
    ];
    const wire = {
      ...wireLayoutOf(layout),
      tensors: [
        { numChunks: 1, chunkSize: 4096, k: 64 },
        { numChunks: 1, chunkSize: 4, k: 4 },
      ],
    };
    const ends = Uint16Array.from({ length: 64 }, (_, i) => (i < 32 ? i : 4096 - 64 + i));
    const update: CompressedUpdate = {
      tensors: [
        { ...randomCompressedTensor(wire.tensors[0]!, 1), indices: ends, codes: Uint8Array.from({ length: 64 }, (_, i) => i % 4) },
        {
          ...randomCompressedTensor(wire.tensors[1]!, 2),
          indices: Uint16Array.of(0, 1, 2, 3),
          codes: Uint8Array.of(3, 3, 3, 3),
          lookup: Float32Array.of(0, 0, 0, 0.02),
        },
      ],
    };
    expectSameUpdate(decodeUpdate(encodeUpdate(ORIGIN, update, wire), wire).update, update);
  });
});

describe('pinned encodings', () => {
  // blake3 of payloads the encoder wrote before it was rewritten for speed (commit f0850ea's
  // encoder): a faster encoder must write the very same bytes, for Rice parameters from 0 to 14.

  it('writes the same bytes as the reference encoder', () => {
    const digests = [1, 2, 3].map((seed) => bytesToHex(blake3(encodeUpdate(ORIGIN, randomUpdate(LAYOUT, seed), WIRE))));
    const wide = [1, 2].map((seed) => bytesToHex(blake3(encodeUpdate(ORIGIN, pinnedUpdate(seed), PINNED_WIRE))));
    const delta = randn(128 * 192 + 100 * 48 + 70 + 1000 + 67, 9, 1e-3);
    const slots = LAYOUT.map(({ shape }, i) => ({
      shape,
      offset: LAYOUT.slice(0, i).reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0),
    }));
    const compressed = bytesToHex(
      blake3(encodeUpdate(ORIGIN, compressLayout(new Float32Array(delta.length), delta, ERROR_FEEDBACK_BETA, slots), WIRE)),
    );
    expect(digests).toEqual([
      'f5effeb64701c5424b22ce595d50b24b51cead3fd232c93779306069591476a2',
      'ece2268511c259d96bca69199e52bb5e531fce203ceadd2b6619339245cf6e1e',
      'cd538bdeee2e1870d69332579802075a338e64a51fdbff2eed09d0af6dccd5d6',
    ]);
    expect(wide).toEqual([
      '42f871984d4de0e54256923cfadb9c934f17b8a690e4451ee728f355e275860a',
      '7bfa52b4b2c8e789a2e11e5d6c37da8b9d74abbc191bfebb4971465130ea7515',
    ]);
    expect(sectionsOf(encodeUpdate(ORIGIN, pinnedUpdate(1), PINNED_WIRE), 5).map((s) => s.riceParameter)).toEqual([14, 0, 5, 5, 1]);
    expect(compressed).toBe('eddb3e7300ed73e1de64dbb56d494ba6f74c319d11eff603f4759ba526c05346');
  });
});

describe('wire codec rejects', () => {
  const update = randomUpdate(LAYOUT, 7);
  const payload = encodeUpdate(ORIGIN, update, WIRE);
  const runIdBytes = new TextEncoder().encode(ORIGIN.runId).length;
  const firstTensorAt = HEADER_FIXED_BYTES + runIdBytes;
  const edited = (edit: (bytes: Uint8Array, view: DataView) => void): Uint8Array => {
    const copy = payload.slice();
    edit(copy, new DataView(copy.buffer));
    return copy;
  };

  it('updates the encoder must not send, with a precise code', () => {
    const first = update.tensors[0]!;
    const unsorted = first.indices.slice();
    [unsorted[0], unsorted[1]] = [unsorted[1]!, unsorted[0]!];
    const duplicated = first.indices.slice();
    duplicated[1] = duplicated[0]!;
    const outOfRange = first.indices.slice();
    outOfRange[63] = 4096;
    const cases: [CodecErrorCode, CompressedUpdate | (() => unknown)][] = [
      ['bad-indices', withTensor(update, 0, { indices: unsorted })],
      ['bad-indices', withTensor(update, 0, { indices: duplicated })],
      ['index-out-of-range', withTensor(update, 0, { indices: outOfRange })],
      ['bad-indices', withTensor(update, 0, { indices: first.indices.subarray(1) })],
      ['bad-codes', withTensor(update, 0, { codes: first.codes.map((c, j) => (j === 5 ? 4 : c)) })],
      ['bad-quantization', withTensor(update, 0, { scale: 1e-13 })],
      ['bad-quantization', withTensor(update, 0, { scale: -2e4 })],
      ['bad-quantization', withTensor(update, 0, { shift: NaN })],
      ['bad-quantization', withTensor(update, 0, { lookup: Float32Array.of(0, Infinity, 0, 0) })],
      ['layout-mismatch', withTensor(update, 1, { k: 40 })],
      ['layout-mismatch', { tensors: update.tensors.slice(1) }],
      ['bad-run-id', () => encodeUpdate({ ...ORIGIN, runId: '' }, update, WIRE)],
      ['bad-run-id', () => encodeUpdate({ ...ORIGIN, runId: 'x'.repeat(65) }, update, WIRE)],
      ['bad-header', () => encodeUpdate({ ...ORIGIN, round: 2 ** 32 }, update, WIRE)],
      ['bad-header', () => encodeUpdate({ ...ORIGIN, baseModelHash: new Uint8Array(31) }, update, WIRE)],
    ];
    for (const [code, input] of cases) {
      expect(codecErrorCode(typeof input === 'function' ? input : () => encodeUpdate(ORIGIN, input, WIRE))).toBe(code);
    }
  });

  it('malformed payloads, with a precise code', () => {
    const decode = (bytes: Uint8Array, options = {}) => codecErrorCode(() => decodeUpdate(bytes, WIRE, options));
    const otherLayout = wireLayoutOf([{ name: 'blocks', shape: [192, 128] }, ...LAYOUT.slice(1)]);
    expect(decode(payload)).toBe('no error');
    expect(decode(edited((b) => (b[0] = 0x58)))).toBe('bad-magic');
    expect(decode(edited((_, v) => v.setUint16(4, 2, true)))).toBe('unsupported-version');
    expect(decode(edited((_, v) => v.setUint16(6, 1, true)))).toBe('bad-reserved');
    expect(decode(edited((b) => (b[50]! ^= 1)))).toBe('layout-mismatch'); // inside the layout hash
    expect(codecErrorCode(() => decodeUpdate(payload, otherLayout))).toBe('layout-mismatch');
    expect(decode(edited((_, v) => v.setUint16(80, 32, true)))).toBe('layout-mismatch');
    expect(decode(edited((_, v) => v.setUint32(82, 6, true)))).toBe('layout-mismatch');
    expect(decode(edited((b) => (b[86] = 0)))).toBe('bad-run-id');
    expect(decode(edited((b) => (b[86] = 65)))).toBe('bad-run-id');
    expect(decode(edited((b) => (b[HEADER_FIXED_BYTES] = 0xff)))).toBe('bad-run-id'); // not UTF-8
    expect(decode(payload, { expect: { round: ORIGIN.round + 1 } })).toBe('header-mismatch');
    expect(decode(payload, { expect: { runId: 'other' } })).toBe('header-mismatch');
    expect(decode(payload, { expect: { baseModelHash: new Uint8Array(32) } })).toBe('header-mismatch');
    expect(decode(edited((_, v) => v.setUint32(firstTensorAt, 5, true)))).toBe('layout-mismatch');
    expect(decode(edited((b) => (b[firstTensorAt + 10] = 16)))).toBe('bad-rice-parameter');
    expect(decode(edited((b) => (b[firstTensorAt + 11] = 1)))).toBe('bad-reserved');
    expect(decode(edited((_, v) => v.setFloat32(firstTensorAt + 12, NaN, true)))).toBe('bad-quantization');
    expect(decode(edited((_, v) => v.setFloat32(firstTensorAt + 16, 1e-13, true)))).toBe('bad-quantization');
    expect(decode(edited((_, v) => v.setFloat32(firstTensorAt + 16, 2e4, true)))).toBe('bad-quantization');
    expect(decode(edited((_, v) => v.setFloat32(firstTensorAt + 28, -Infinity, true)))).toBe('bad-quantization');
    expect(decode(edited((_, v) => v.setUint32(firstTensorAt + 36, 1e6, true)))).toBe('bad-index-stream');
    expect(decode(edited((_, v) => v.setUint32(firstTensorAt + 36, v.getUint32(firstTensorAt + 36, true) - 1, true)))).toBe(
      'bad-index-stream',
    );
    // A unary run of one-bits longer than any gap in a 4096-element chunk.
    expect(decode(edited((b) => b.fill(0xff, firstTensorAt + 40, firstTensorAt + 120)))).toBe('index-out-of-range');
    expect(decode(payload.subarray(0, payload.length - 1))).toBe('truncated');
    expect(decode(payload.subarray(0, 40))).toBe('truncated');
    expect(decode(payload.subarray(0, 2))).toBe('truncated');
    expect(decode(new Uint8Array(0))).toBe('truncated');
    const extended = new Uint8Array(payload.length + 1);
    extended.set(payload);
    expect(decode(extended)).toBe('trailing-bytes');
    expect(decode(new Uint8Array(maxPayloadBytes(WIRE) + 1))).toBe('too-large');
  });

  it('set padding bits (so every update has one byte string)', () => {
    // 67 one-element chunks with k = 1 hold 67 codes: the last code byte uses 3 of its 4 slots.
    const lastByte = payload.length - 1;
    expect(
      codecErrorCode(() =>
        decodeUpdate(
          edited((b) => (b[lastByte]! |= 0xc0)),
          WIRE,
        ),
      ),
    ).toBe('bad-padding');
  });
});

/** A tensor's index stream Rice-coded with parameter r, written from PROTOCOL.md §2 apart from codec.ts. */
function riceStream(tensor: CompressedTensor, r: number): { bytes: Uint8Array; bits: number } {
  const bits: number[] = [];
  for (let c = 0; c < tensor.numChunks; c++) {
    let previous = -1;
    for (let s = 0; s < tensor.k; s++) {
      const index = tensor.indices[c * tensor.k + s]!;
      const gap = index - previous - 1;
      previous = index;
      for (let q = Math.floor(gap / 2 ** r); q > 0; q--) bits.push(1);
      bits.push(0);
      for (let b = 0; b < r; b++) bits.push(Math.floor(gap / 2 ** b) % 2);
    }
  }
  const bytes = new Uint8Array(Math.ceil(bits.length / 8));
  bits.forEach((bit, i) => (bytes[i >>> 3]! |= bit << (i & 7)));
  return { bytes, bits: bits.length };
}

/** `payload` with one tensor's Rice parameter and index stream (and the stream's length field) replaced. */
function withIndexStream(payload: Uint8Array, section: Section, riceParameter: number, stream: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length - section.streamBytes + stream.length);
  out.set(payload.subarray(0, section.streamAt));
  out[section.at + 10] = riceParameter;
  new DataView(out.buffer).setUint32(section.at + 36, stream.length, true);
  out.set(stream, section.streamAt);
  out.set(payload.subarray(section.codesAt), section.streamAt + stream.length);
  return out;
}

describe('canonical payloads', () => {
  const payloads = [
    { name: 'random', payload: encodeUpdate(ORIGIN, randomUpdate(LAYOUT, 7), WIRE) },
    { name: 'compressed', payload: encodeUpdate(ORIGIN, compressedUpdate(5), WIRE) },
  ];
  const compressed = payloads[1]!.payload;
  const decode = (bytes: Uint8Array) => codecErrorCode(() => decodeUpdate(bytes, WIRE));
  const edited = (payload: Uint8Array, edit: (bytes: Uint8Array, view: DataView) => void): Uint8Array => {
    const copy = payload.slice();
    edit(copy, new DataView(copy.buffer));
    return copy;
  };
  const usedBins = (tensor: CompressedTensor) => [0, 1, 2, 3].filter((b) => tensor.codes.includes(b));

  it('re-encodes a decoded payload to the same bytes; the compressor’s scale 0 is valid', () => {
    for (const { payload } of payloads) {
      const { header, update } = decodeUpdate(payload, WIRE);
      expect(encodeUpdate(header, update, WIRE)).toEqual(payload);
    }
    const norm = decodeUpdate(compressed, WIRE).update.tensors[2]!;
    expect([norm.shift, norm.scale, [...norm.lookup], new Set(norm.codes)]).toEqual([0.25, 0, [0, 0, 0, 0], new Set([2])]);
  });

  it('rejects every Rice parameter but the canonical one (the shortest stream, the smallest on a tie), in every tensor', () => {
    const parameters = new Set<number>();
    for (const { name, payload } of payloads) {
      const { update } = decodeUpdate(payload, WIRE);
      sectionsOf(payload, LAYOUT.length).forEach((section, t) => {
        const tensor = update.tensors[t]!;
        const canonical = section.riceParameter;
        parameters.add(canonical);
        const streams = Array.from({ length: MAX_RICE_PARAMETER + 1 }, (_, r) => riceStream(tensor, r));
        // Brute force over all 16 parameters agrees with the encoder's choice.
        expect(canonical).toBe(bestRiceParameter(tensor).riceParameter);
        streams.forEach(({ bits }, r) =>
          expect(bits).toBeGreaterThanOrEqual(r < canonical ? streams[canonical]!.bits + 1 : streams[canonical]!.bits),
        );
        streams.forEach(({ bytes }, r) => {
          const variant = withIndexStream(payload, section, r, bytes);
          // A stream far longer than the canonical one can make the payload longer than any valid
          // payload: too-large, before a byte is read.
          const expected = variant.length > maxPayloadBytes(WIRE) ? 'too-large' : 'bad-rice-parameter';
          if (r === canonical) expect(variant).toEqual(payload);
          else expect(decode(variant), `${name} tensor ${t}, Rice parameter ${r} (canonical ${canonical})`).toBe(expected);
          if (Math.abs(r - canonical) === 1) expect(expected).toBe('bad-rice-parameter');
        });
      });
    }
    expect(parameters.size).toBeGreaterThanOrEqual(3); // 0 for single-element chunks, 5 to 7 for the tiles
  });

  it('rejects a set padding bit, a zero byte more of index stream, a set reserved bit and a trailing byte', () => {
    for (const { name, payload } of payloads) {
      const { update } = decodeUpdate(payload, WIRE);
      sectionsOf(payload, LAYOUT.length).forEach((section, t) => {
        const { bits } = riceStream(update.tensors[t]!, section.riceParameter);
        const where = `${name} tensor ${t}`;
        for (let bit = bits; bit < section.streamBytes * 8; bit++) {
          const at = section.streamAt + (bit >>> 3);
          expect(decode(edited(payload, (b) => (b[at]! |= 1 << (bit & 7)))), `${where} stream padding bit ${bit}`).toBe('bad-padding');
        }
        const lastCodeByte = section.codesAt + Math.ceil(section.n / 4) - 1;
        for (let bit = 2 * (section.n % 4 || 4); bit < 8; bit++) {
          expect(decode(edited(payload, (b) => (b[lastCodeByte]! |= 1 << bit))), `${where} code padding bit ${bit}`).toBe('bad-padding');
        }
        const longer = new Uint8Array(section.streamBytes + 1);
        longer.set(payload.subarray(section.streamAt, section.codesAt));
        expect(decode(withIndexStream(payload, section, section.riceParameter, longer)), where).toBe('bad-index-stream');
        for (const value of [1, 0x80, 0xff])
          expect(decode(edited(payload, (b) => (b[section.at + 11] = value))), where).toBe('bad-reserved');
      });
      for (let bit = 0; bit < 16; bit++) expect(decode(edited(payload, (_, v) => v.setUint16(6, 1 << bit, true)))).toBe('bad-reserved');
      const extended = new Uint8Array(payload.length + 1);
      extended.set(payload);
      expect(decode(extended)).toBe('trailing-bytes');
    }
  });

  it('rejects a run id in overlong UTF-8', () => {
    const payload = encodeUpdate({ ...ORIGIN, runId: 'a-run' }, randomUpdate(LAYOUT, 8), WIRE);
    // 'a' (61) written as the overlong two-byte sequence C1 A1.
    const overlong = new Uint8Array(payload.length + 1);
    overlong.set(payload.subarray(0, HEADER_FIXED_BYTES));
    overlong[86] = 6;
    overlong.set([0xc1, 0xa1], HEADER_FIXED_BYTES);
    overlong.set(payload.subarray(HEADER_FIXED_BYTES + 1), HEADER_FIXED_BYTES + 2);
    expect(decode(overlong)).toBe('bad-run-id');
  });

  it('rejects −0, subnormals, every NaN, infinities, a negative scale and a non-zero lookup in an unused bin', () => {
    const { update } = decodeUpdate(compressed, WIRE);
    const sections = sectionsOf(compressed, LAYOUT.length);
    const first = sections[0]!.at;
    // Top-k keeps the largest |e|, so no selected value sits near the mean: bins 0 and 2 stay empty.
    expect(usedBins(update.tensors[0]!)).toEqual([1, 3]);
    const scale = update.tensors[0]!.scale;
    const nonCanonical = [-0, 1e-40, -1e-40, 2 ** -127, NaN, Infinity, -Infinity];
    const nanPatterns = [0x7fc00000, 0x7f800001, 0xffc00000, 0x7fffffff, 0xffffffff];
    for (const field of [12, 16, 20, 24, 28, 32]) {
      for (const value of nonCanonical)
        expect(decode(edited(compressed, (_, v) => v.setFloat32(first + field, value, true))), `field ${field} = ${value}`).toBe(
          'bad-quantization',
        );
      for (const bits of nanPatterns)
        expect(
          decode(edited(compressed, (_, v) => v.setUint32(first + field, bits, true))),
          `field ${field} = NaN ${bits.toString(16)}`,
        ).toBe('bad-quantization');
    }
    for (const value of [-scale, -1e-3, -1, -2e4])
      expect(decode(edited(compressed, (_, v) => v.setFloat32(first + 16, value, true))), `scale ${value}`).toBe('bad-quantization');
    // Every unused bin of every tensor, in both payloads: any lookup value but +0 is rejected.
    let unusedBins = 0;
    for (const { payload } of payloads) {
      const decoded = decodeUpdate(payload, WIRE).update;
      sectionsOf(payload, LAYOUT.length).forEach((section, t) => {
        for (let b = 0; b < 4; b++) {
          if (usedBins(decoded.tensors[t]!).includes(b)) continue;
          unusedBins++;
          for (const value of [1e-3, -1e-3, -0, 1e-40]) {
            expect(
              decode(edited(payload, (_, v) => v.setFloat32(section.at + 20 + 4 * b, value, true))),
              `tensor ${t} unused bin ${b} = ${value}`,
            ).toBe('bad-quantization');
          }
        }
      });
    }
    expect(unusedBins).toBeGreaterThanOrEqual(3);
    // Scale 0 means every selected value was equal, so every code is 2.
    expect(decode(edited(compressed, (_, v) => v.setFloat32(first + 16, 0, true)))).toBe('bad-codes');
  });

  it(`rejects a shift or a decoded value beyond ±${MAX_ABS_VALUE}, and accepts ±${MAX_ABS_VALUE} itself`, () => {
    const first = sectionsOf(compressed, LAYOUT.length)[0]!.at;
    const withQuantization = (shift: number, lookup3: number) =>
      decode(
        edited(compressed, (_, v) => {
          v.setFloat32(first + 12, shift, true);
          v.setFloat32(first + 32, lookup3, true);
        }),
      );
    const lookup3 = decodeUpdate(compressed, WIRE).update.tensors[0]!.lookup[3]!;
    expect(withQuantization(0, 1000)).toBe('no error');
    expect(withQuantization(0, -1000)).toBe('no error');
    expect(withQuantization(1000, 0)).toBe('no error');
    expect(withQuantization(0, 1000.0625)).toBe('value-too-large');
    expect(withQuantization(0, -3e38)).toBe('value-too-large');
    expect(withQuantization(1000.0625, lookup3)).toBe('value-too-large');
    expect(withQuantization(3e38, lookup3)).toBe('value-too-large');
    expect(withQuantization(600, 500)).toBe('value-too-large'); // each within the bound, their sum not
  });

  it('is refused by the encoder wherever the decoder would reject it', () => {
    const update = compressedUpdate(5);
    const first = update.tensors[0]!;
    const lookupWith = (b: number, value: number) => first.lookup.map((x, i) => (i === b ? value : x));
    const cases: [CodecErrorCode, CompressedUpdate | (() => unknown)][] = [
      ['bad-quantization', withTensor(update, 0, { scale: -first.scale })],
      ['bad-quantization', withTensor(update, 0, { scale: -0 })],
      ['bad-quantization', withTensor(update, 0, { scale: NaN })],
      ['bad-quantization', withTensor(update, 0, { scale: Infinity })],
      ['bad-quantization', withTensor(update, 0, { shift: -0 })],
      ['bad-quantization', withTensor(update, 0, { shift: 1e-40 })],
      ['bad-quantization', withTensor(update, 0, { lookup: lookupWith(1, -0) })],
      ['bad-quantization', withTensor(update, 2, { lookup: Float32Array.of(1e-3, 0, 0, 0) })],
      ['bad-codes', withTensor(update, 0, { scale: 0 })],
      ['bad-codes', withTensor(update, 2, { codes: update.tensors[2]!.codes.map((c, j) => (j === 0 ? 1 : c)) })],
      ['value-too-large', withTensor(update, 0, { shift: 1000.5 })],
      ['value-too-large', withTensor(update, 0, { lookup: lookupWith(3, 3e38) })],
      ['bad-run-id', () => encodeUpdate({ ...ORIGIN, runId: 'run-\ud800' }, update, WIRE)],
    ];
    for (const [code, input] of cases) {
      expect(codecErrorCode(typeof input === 'function' ? input : () => encodeUpdate(ORIGIN, input, WIRE))).toBe(code);
    }
    expect(codecErrorCode(() => encodeUpdate(ORIGIN, update, WIRE))).toBe('no error');
  });
});

describe('wire codec fuzz', () => {
  it('10,000 mutated, truncated, extended and random payloads: CodecError or a valid update, allocations bounded', () => {
    const random = rng(2026);
    const randomInt = (n: number) => Math.floor(random() * n);
    const bases = [1, 2, 3, 4].map((seed) => encodeUpdate({ ...ORIGIN, round: seed }, randomUpdate(LAYOUT, seed), WIRE));
    const bound = decodedBytesBound(WIRE);
    const outcomes = new Map<string, number>();
    let accepted = 0;
    for (let trial = 0; trial < 10_000; trial++) {
      const base = bases[trial % bases.length]!;
      let bytes: Uint8Array;
      switch (trial % 6) {
        case 0: // one bit flipped
        case 1: {
          // up to 8 bits flipped
          bytes = base.slice();
          const flips = trial % 6 === 0 ? 1 : 1 + randomInt(8);
          for (let f = 0; f < flips; f++) {
            const bit = randomInt(bytes.length * 8);
            bytes[bit >>> 3]! ^= 1 << (bit & 7);
          }
          break;
        }
        case 2: {
          // a byte replaced, half the time inside the header and first tensor header
          bytes = base.slice();
          bytes[random() < 0.5 ? randomInt(140) : randomInt(bytes.length)] = randomInt(256);
          break;
        }
        case 3:
          bytes = base.slice(0, randomInt(base.length));
          break;
        case 4: {
          bytes = new Uint8Array(base.length + 1 + randomInt(16));
          bytes.set(base);
          if (random() < 0.5) for (let i = base.length; i < bytes.length; i++) bytes[i] = randomInt(256);
          break;
        }
        default: {
          // random bytes, half of them behind a valid header so that the tensor parser is reached
          bytes = Uint8Array.from({ length: randomInt(base.length + 64) }, () => randomInt(256));
          if (random() < 0.5) bytes.set(base.subarray(0, Math.min(bytes.length, HEADER_FIXED_BYTES + 13)));
        }
      }
      let allocated = 0;
      try {
        const { header, update } = decodeUpdate(bytes, WIRE, { onAllocate: (b) => (allocated += b) });
        if (allocated > bound) throw new Error(`trial ${trial}: decoding allocated ${allocated} bytes, above the bound ${bound}`);
        // A mutation can be valid (a flipped code bit, a changed lookup value): it must then be an
        // update the encoder accepts and reproduces, and the canonical encoding of that update.
        const reencoded = encodeUpdate(header, update, WIRE);
        if (!sameUpdate(decodeUpdate(reencoded, WIRE).update, update))
          throw new Error(`trial ${trial}: re-encoding a decoded update changed it`);
        if (!sameBytes(reencoded, bytes))
          throw new Error(`trial ${trial}: an accepted payload is not the canonical encoding of its update`);
        accepted++;
        outcomes.set('valid', (outcomes.get('valid') ?? 0) + 1);
      } catch (error) {
        if (!(error instanceof CodecError))
          throw new Error(`trial ${trial}: the decoder threw ${String(error)} instead of a CodecError`, { cause: error });
        if (allocated !== 0) throw new Error(`trial ${trial}: a rejected payload allocated ${allocated} bytes`, { cause: error });
        outcomes.set(error.code, (outcomes.get(error.code) ?? 0) + 1);
      }
    }
    console.log('fuzz outcomes', Object.fromEntries([...outcomes].sort((a, b) => b[1] - a[1])));
    expect(accepted).toBeGreaterThan(0);
    expect(outcomes.size).toBeGreaterThanOrEqual(10);
  });
});

describe('compression ratio', () => {
  /** log2 C(n, k): the bits an enumerative (combinatorial number system) code needs per chunk. */
  function log2Binomial(n: number, k: number): number {
    let bits = 0;
    for (let i = 0; i < k; i++) bits += Math.log2((n - i) / (i + 1));
    return bits;
  }

  /** What the compressor (compress.ts) makes of a structured pseudo-gradient: rank 2 plus noise. */
  function structuredUpdate(shape: [number, number], seed: number): CompressedTensor {
    const [rows, cols] = shape;
    const u = randn(rows * 2, seed, 0.01);
    const v = randn(cols * 2, seed + 1);
    const delta = randn(rows * cols, seed + 2, 0.003);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) delta[r * cols + c]! += u[2 * r]! * v[2 * c]! + u[2 * r + 1]! * v[2 * c + 1]!;
    }
    return compressTensor(new Float32Array(rows * cols), delta, 0.95, shape);
  }

  it('is at least 200× smaller than dense fp32 at k = 64 of 4096, and Rice coding stays near the enumerative bound', () => {
    const layout: TensorSpecs = [
      { name: 'attn', shape: [512, 512] },
      { name: 'mlp', shape: [1024, 384] },
    ];
    const wire = wireLayoutOf(layout);
    const denseBytes = layout.reduce((n, { shape }) => n + 4 * shape[0]! * shape[1]!, 0);
    const chunks = wire.tensors.reduce((n, t) => n + t.numChunks, 0);
    const enumerativeBits = chunks * Math.ceil(log2Binomial(4096, 64));
    const measure = (update: CompressedUpdate) => {
      const payload = encodeUpdate(ORIGIN, update, wire);
      expectSameUpdate(decodeUpdate(payload, wire).update, update);
      const indexBits = sectionsOf(payload, wire.tensors.length).reduce((n, section) => n + 8 * section.streamBytes, 0);
      return { payloadBytes: payload.length, ratio: denseBytes / payload.length, indexBitsPerChunk: indexBits / chunks };
    };
    const uniform = measure(randomUpdate(layout, 11));
    const structured = measure({ tensors: layout.map(({ shape }, t) => structuredUpdate(shape as [number, number], 20 + t)) });
    console.log(
      JSON.stringify({
        denseBytes,
        chunks,
        enumerativeIndexBitsPerChunk: enumerativeBits / chunks,
        twelveBitIndexBitsPerChunk: 12 * 64,
        uniform,
        structured,
      }),
    );
    expect(uniform.ratio).toBeGreaterThanOrEqual(200);
    expect(structured.ratio).toBeGreaterThanOrEqual(200);
    // Rice coding of the gaps is within 3 % of ⌈log2 C(4096, 64)⌉ = 472 bits (log2 C = 471.3) on uniform selections.
    expect(uniform.indexBitsPerChunk).toBeLessThan(1.03 * (enumerativeBits / chunks));
  });
});

/** Where a tensor section of a payload lies, read from its length fields (PROTOCOL.md §2). */
interface Section {
  at: number;
  riceParameter: number;
  streamAt: number;
  streamBytes: number;
  codesAt: number;
  /** Entries (numChunks·k), so codes. */
  n: number;
}

function sectionsOf(payload: Uint8Array, tensorCount: number): Section[] {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const sections: Section[] = [];
  let at = HEADER_FIXED_BYTES + payload[86]!;
  for (let t = 0; t < tensorCount; t++) {
    const n = view.getUint32(at, true) * view.getUint16(at + 8, true);
    const streamAt = at + TENSOR_FIXED_BYTES;
    const streamBytes = view.getUint32(at + 36, true);
    sections.push({ at, riceParameter: payload[at + 10]!, streamAt, streamBytes, codesAt: streamAt + streamBytes, n });
    at = streamAt + streamBytes + Math.ceil(n / 4);
  }
  return sections;
}
