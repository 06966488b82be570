// The layout and model hashes: equal to blake3 over the byte string docs/PROTOCOL.md defines
// (rebuilt here independently), sensitive to every bit of θ and of the layout, and pinned to test
// vectors so that a change to the definition cannot slip through unnoticed. The model hash runs on
// hash-wasm's BLAKE3 once it has loaded: its digests must equal @noble's, byte for byte.
import { describe, expect, it } from 'vitest';
import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { randn } from '../helpers/random.ts';
import { blake3Ready } from '../../src/base/blake3.ts';
import { layoutHash, modelHash, modelHashBytes, type TensorSpecs } from '../../src/model/hash.ts';
import { preset } from '../../src/model/config.ts';
import { parameterLayout } from '../../src/model/layout.ts';

const LAYOUT: TensorSpecs = [
  { name: 'model.embed_tokens.weight', shape: [5, 3] },
  { name: 'model.norm.weight', shape: [3] },
];

/** The protocol's byte strings, built with Node's Buffer rather than the implementation's code. */
function layoutBytes(layout: TensorSpecs): Buffer {
  const entries = layout.map(({ name, shape }) => `[${JSON.stringify(name)},[${shape.join(',')}]]`);
  return Buffer.from(`[${entries.join(',')}]`, 'utf8');
}

function modelBytes(layout: TensorSpecs, params: Float32Array[]): Buffer {
  const values = params.map((p) => {
    const b = Buffer.alloc(p.length * 4);
    p.forEach((v, i) => b.writeFloatLE(v, 4 * i));
    return b;
  });
  return Buffer.concat([Buffer.from('WLCO model v1', 'ascii'), Buffer.from(blake3(layoutBytes(layout))), ...values]);
}

function params(seed: number): Float32Array[] {
  return [randn(15, seed), randn(3, seed + 1)];
}

describe('layout hash', () => {
  it("is blake3 of the canonical layout bytes, and the model layout's own hash", () => {
    expect(layoutBytes(LAYOUT).toString()).toBe('[["model.embed_tokens.weight",[5,3]],["model.norm.weight",[3]]]');
    expect(bytesToHex(layoutHash(LAYOUT))).toBe(bytesToHex(blake3(layoutBytes(LAYOUT))));
    const model = parameterLayout(preset('tiny'));
    expect(bytesToHex(layoutHash(model.tensors))).toBe(model.hash);
  });

  it('changes with any name, shape or order', () => {
    const base = bytesToHex(layoutHash(LAYOUT));
    const variants: TensorSpecs[] = [
      [{ name: 'model.embed_tokens.weight', shape: [3, 5] }, LAYOUT[1]!],
      [{ name: 'model.embed_tokens.weight', shape: [15] }, LAYOUT[1]!],
      [{ ...LAYOUT[0]!, name: 'lm_head.weight' }, LAYOUT[1]!],
      [LAYOUT[1]!, LAYOUT[0]!],
      [LAYOUT[0]!],
    ];
    const hashes = variants.map((v) => bytesToHex(layoutHash(v)));
    expect(new Set([base, ...hashes]).size).toBe(variants.length + 1);
  });
});

describe('model hash', () => {
  it('is blake3 over the domain, the layout hash and the little-endian f32 bytes, in layout order', () => {
    const theta = params(1);
    expect(modelHash(LAYOUT, theta)).toBe(bytesToHex(blake3(modelBytes(LAYOUT, theta))));
    expect(bytesToHex(modelHashBytes(LAYOUT, theta))).toBe(modelHash(LAYOUT, theta));
  });

  it('matches the test vector in docs/PROTOCOL.md', () => {
    // θ = 0, 1, 2, ... in layout order: a vector anyone can rebuild from the document alone.
    const theta = [Float32Array.from({ length: 15 }, (_, i) => i), Float32Array.from({ length: 3 }, (_, i) => 15 + i)];
    expect(bytesToHex(layoutHash(LAYOUT))).toBe('d6268a355585f7392dd0243d6e7976b7683ed42b3d4592568eb11fc267c7810c');
    expect(modelHash(LAYOUT, theta)).toBe('07bd92d788a3a17a921916e0bc6d13758f9808f4a42b239fd04becd426774583');
  });

  it('hashes views into one flat allocation exactly like separate arrays', () => {
    const theta = params(2);
    const flat = new Float32Array(64);
    flat.set(theta[0]!, 3);
    flat.set(theta[1]!, 40);
    expect(modelHash(LAYOUT, [flat.subarray(3, 18), flat.subarray(40, 43)])).toBe(modelHash(LAYOUT, theta));
  });

  it('changes with any single bit of θ, including the sign of zero', () => {
    const theta = params(3);
    const base = modelHash(LAYOUT, theta);
    const bits = new Uint32Array(theta[1]!.buffer);
    for (const bit of [0, 17, 31]) {
      bits[2]! ^= 1 << bit;
      expect(modelHash(LAYOUT, theta)).not.toBe(base);
      bits[2]! ^= 1 << bit;
    }
    expect(modelHash(LAYOUT, theta)).toBe(base);
    const zeros = [new Float32Array(15), new Float32Array(3)];
    const negativeZero = [new Float32Array(15), Float32Array.of(0, -0, 0)];
    expect(modelHash(LAYOUT, negativeZero)).not.toBe(modelHash(LAYOUT, zeros));
  });

  it('says what is wrong when θ does not fit the layout', () => {
    expect(() => modelHash(LAYOUT, [randn(15, 1)])).toThrow(/1 parameter arrays for a layout of 2/);
    expect(() => modelHash(LAYOUT, [randn(15, 1), randn(4, 1)])).toThrow(/'model.norm.weight' has 4 values, its shape \[3\] needs 3/);
  });
});

describe('the model hash on the fast (WASM) BLAKE3', () => {
  it('gives the model hash @noble gives, on a model of several MB', async () => {
    await blake3Ready();
    const layout: TensorSpecs = [
      { name: 'a', shape: [1000, 777] },
      { name: 'b', shape: [3] },
      { name: 'c', shape: [512, 1024] },
    ];
    const theta = layout.map(({ shape }, i) =>
      randn(
        shape.reduce((n, d) => n * d, 1),
        40 + i,
      ),
    );
    expect(modelHash(layout, theta)).toBe(bytesToHex(blake3(modelBytes(layout, theta))));
  });
});
