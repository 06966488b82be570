// safetensors: round trip, the byte format itself (a hand-built file), and rejection of
// malformed or hostile files before anything is allocated.
import { describe, expect, it } from 'vitest';
import { readSafetensors, SafetensorsError, writeSafetensors, type Tensor } from '../../src/model/safetensors.ts';

/** A file from a header object and a data section, exactly as given (for malformed cases). */
function rawFile(header: unknown, data = new Uint8Array(0), headerText = JSON.stringify(header)): Uint8Array {
  const json = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('safetensors', () => {
  it('round-trips F32 and I32 tensors with metadata, in order', () => {
    const tensors: [string, Tensor][] = [
      ['b.weight', { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, -2, 3.5, NaN, -0, 1e-40]) }],
      ['a.tokens', { dtype: 'I32', shape: [3], data: new Int32Array([-1, 0, 2 ** 31 - 1]) }],
      ['scalar', { dtype: 'F32', shape: [], data: new Float32Array([7]) }],
      ['empty', { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) }],
    ];
    const bytes = writeSafetensors(tensors, { format: 'pt' });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + headerLength) % 8).toBe(0);
    const file = readSafetensors(bytes);
    expect(file.metadata).toEqual({ format: 'pt' });
    expect([...file.tensors.keys()]).toEqual(['b.weight', 'a.tokens', 'scalar', 'empty']);
    for (const [name, t] of tensors) {
      const got = file.tensors.get(name)!;
      expect(got.dtype).toBe(t.dtype);
      expect(got.shape).toEqual(t.shape);
      expect(new Uint8Array(got.data.buffer, got.data.byteOffset, got.data.byteLength)).toEqual(new Uint8Array(t.data.buffer));
    }
  });

  it('reads a file laid out by the spec, at an odd offset inside a larger buffer', () => {
    const header = '{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    const file = rawFile(null, new Uint8Array(new Float32Array([1.5, -2]).buffer), header);
    const shifted = new Uint8Array(file.length + 3);
    shifted.set(file, 3);
    const x = readSafetensors(shifted.subarray(3)).tensors.get('x')!;
    expect(Array.from(x.data)).toEqual([1.5, -2]);
  });

  const f32 = (n: number) => new Uint8Array(n * 4);
  const entry = (begin: number, end: number, shape: number[] = [(end - begin) / 4], dtype = 'F32') => ({
    dtype,
    shape,
    data_offsets: [begin, end],
  });
  const cases: [string, Uint8Array, RegExp][] = [
    ['a file shorter than its length prefix', new Uint8Array(5), /shorter than the 8-byte header length/],
    [
      'a header length past the end',
      (() => {
        const b = rawFile({});
        new DataView(b.buffer).setUint32(0, 1000, true);
        return b;
      })(),
      /does not fit/,
    ],
    [
      'a header length of 2^60',
      (() => {
        const b = rawFile({});
        new DataView(b.buffer).setBigUint64(0, 2n ** 60n, true);
        return b;
      })(),
      /exceeds 100000000 bytes/,
    ],
    ['a header that is not JSON', rawFile(null, undefined, '{"x": nope}'), /not UTF-8 JSON/],
    ['a header that is a JSON array', rawFile(null, undefined, '[1, 2]'), /does not start with \{/],
    [
      'invalid UTF-8',
      rawFile(null, undefined, '{"\u00ff": 1}').map((b, i, a) => (i === a.length - 4 ? 0xff : b)),
      /not UTF-8 JSON|not an object/,
    ],
    ['a BF16 tensor', rawFile({ x: entry(0, 4, [2], 'BF16') }, f32(1)), /dtype BF16, which is not supported.*convert the file to float32/],
    ['an unknown dtype', rawFile({ x: entry(0, 4, [1], 'Q4') }, f32(1)), /dtype Q4, which is unknown/],
    ['a negative dimension', rawFile({ x: entry(0, 4, [-1]) }, f32(1)), /shape \[-1\]/],
    ['a shape that disagrees with the byte span', rawFile({ x: entry(0, 8, [3]) }, f32(2)), /needs 12 bytes but data_offsets span 8/],
    ['offsets past the data', rawFile({ x: entry(0, 16) }, f32(2)), /fall outside the 8 data bytes/],
    ['reversed offsets', rawFile({ x: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }, f32(2)), /data_offsets \[8, 4\]/],
    ['overlapping tensors', rawFile({ x: entry(0, 8), y: entry(4, 12) }, f32(3)), /'y' starts at byte 4, expected 8 \(overlap\)/],
    ['a gap between tensors', rawFile({ x: entry(0, 4), y: entry(8, 12) }, f32(3)), /'y' starts at byte 8, expected 4 \(gap\)/],
    ['trailing bytes no tensor covers', rawFile({ x: entry(0, 4) }, f32(2)), /cover 4 of 8 data bytes/],
    ['non-string metadata', rawFile({ __metadata__: { step: 3 } }), /__metadata__.step must be a string/],
    ['an entry that is not an object', rawFile({ x: 5 }), /entry 'x' is not an object/],
    [
      'a shape product overflowing',
      rawFile({ x: entry(0, 4, [2 ** 30, 2 ** 30, 2 ** 30]) }, f32(1)),
      /needs .* bytes but data_offsets span 4/,
    ],
  ];
  it.each(cases)('rejects %s with a SafetensorsError', (_what, bytes, message) => {
    expect(() => readSafetensors(bytes)).toThrow(SafetensorsError);
    expect(() => readSafetensors(bytes)).toThrow(message);
  });

  it('refuses to write inconsistent tensors', () => {
    expect(() => writeSafetensors({ x: { dtype: 'F32', shape: [3], data: new Float32Array(2) } })).toThrow(
      /shape \[3\] holds 3 elements, data has 2/,
    );
    expect(() => writeSafetensors({ x: { dtype: 'I32', shape: [1], data: new Float32Array(1) } })).toThrow(
      /dtype I32 needs Int32Array data/,
    );
    expect(() => writeSafetensors({ __metadata__: { dtype: 'F32', shape: [0], data: new Float32Array(0) } })).toThrow(
      /cannot be named '__metadata__'/,
    );
  });
});
