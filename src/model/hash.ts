// Hashes that every peer must compute identically: the parameter layout hash (which model shape a
// payload is for) and the model hash H_w (which θ it is; the validator's decision publishes
// H_{w+1}, and a peer whose θ hashes differently resyncs). Both are blake3 over canonical
// little-endian bytes, defined byte by byte in docs/PROTOCOL.md.
//
// θ is hundreds of MB (base: 494 MB), hashed every round: src/base/blake3.ts runs it on WASM.
import { blake3, blake3Stream } from '../base/blake3.ts';
import { bytesToHex } from '../base/hex.ts';

/** One named parameter tensor; the model's layout entries carry more fields and still fit. */
export interface TensorSpec {
  name: string;
  shape: readonly number[];
}

/**
 * The model's parameter tensors in their canonical order: `parameterLayout(config).tensors`
 * (layout.ts) can be passed as is.
 */
export type TensorSpecs = readonly TensorSpec[];

const MODEL_DOMAIN = new TextEncoder().encode('WLCO model v1');
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

/**
 * blake3 of the UTF-8 JSON `[[name, [dims…]], …]` in layout order (JSON.stringify, no spaces),
 * 32 bytes. The same definition as `ParameterLayout.hash` in layout.ts (which is its hex
 * form), so a checkpoint's layout and a payload's header name a shape the same way.
 */
export function layoutHash(layout: TensorSpecs): Uint8Array {
  for (const { name, shape } of layout) {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0 || d > 0xffffffff)
        throw new RangeError(`layoutHash: tensor '${name}' has dimension ${d}; dimensions must be integers in [0, 2^32)`);
    }
  }
  return blake3(new TextEncoder().encode(JSON.stringify(layout.map(({ name, shape }) => [name, [...shape]]))));
}

/** The f32 values' bytes in little-endian order, without copying on little-endian machines. */
function littleEndianBytes(values: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const bytes = new Uint8Array(values.byteLength);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(4 * i, values[i]!, true);
  return bytes;
}

/**
 * blake3("WLCO model v1" ‖ layoutHash ‖ each tensor's f32 values, little-endian, in layout
 * order). `params` holds one array per layout tensor (views into a flat allocation are fine).
 * The raw bits are hashed, so −0 and +0 (and NaN payloads) hash differently.
 */
export function modelHashBytes(layout: TensorSpecs, params: readonly Float32Array[]): Uint8Array {
  if (params.length !== layout.length)
    throw new RangeError(`modelHash: ${params.length} parameter arrays for a layout of ${layout.length} tensors`);
  layout.forEach(({ name, shape }, i) => {
    const expected = elementCount(shape);
    if (params[i]!.length !== expected)
      throw new RangeError(
        `modelHash: tensor '${name}' has ${params[i]!.length} values, its shape [${shape.join(', ')}] needs ${expected}`,
      );
  });
  const layoutDigest = layoutHash(layout);
  // Checked first: the stream holds the shared WASM hasher from here to its digest.
  const hasher = blake3Stream();
  hasher.update(MODEL_DOMAIN);
  hasher.update(layoutDigest);
  for (const p of params) hasher.update(littleEndianBytes(p));
  return hasher.digest();
}

/** The model hash as 64 lowercase hex digits (the form published in decisions). */
export function modelHash(layout: TensorSpecs, params: readonly Float32Array[]): string {
  return bytesToHex(modelHashBytes(layout, params));
}
