// docs/PROTOCOL.md and the codec agree. A decoder written from the spec's text alone
// (spec-decoder.ts) and the codec's PayloadDecoder must return the same update or the same error
// code on the test vectors, on every prefix of a valid payload, on thousands of mutated payloads,
// and on payloads built to break two rules at once, where only the spec's order of checks decides
// the code. Also: the codec's field table is the spec's byte table, and maxPayloadBytes is the
// exact length of the longest valid payload (the spec's formula, reached by a real payload).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { rng } from '../helpers/random.ts';
import { randomUpdate } from './random-update.ts';
import { specDecode, specMaxPayloadBytes, type SpecExpectations, type SpecResult, type SpecTensor } from './spec-decoder.ts';
import { LAYOUT, ORIGIN, PINNED_WIRE, WIRE, compressedUpdate, pinnedUpdate } from './wire-vectors.ts';
import { preset } from '../../src/model/config.ts';
import { parameterLayout } from '../../src/model/layout.ts';
import {
  CodecError,
  HEADER,
  PayloadDecoder,
  SECTION,
  encodeUpdate,
  maxPayloadBytes,
  wireLayoutOf,
  type DecodedPayload,
  type WireField,
} from '../../src/sparseloco/codec.ts';
import type { CompressedUpdate, TensorChunking, WireLayout } from '../../src/sparseloco/types.ts';

const decoders = new Map<WireLayout, PayloadDecoder>();

/** The codec's answer: its decoded payload, or its error code. */
function codecDecode(payload: Uint8Array, wire: WireLayout, expectations: SpecExpectations = {}): DecodedPayload | string {
  if (!decoders.has(wire)) decoders.set(wire, new PayloadDecoder(wire));
  try {
    return decoders.get(wire)!.decode(payload, { expect: expectations });
  } catch (err) {
    if (err instanceof CodecError) return err.code;
    throw err;
  }
}

function sameSequence(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

/** Where the two answers differ, or null when they agree (the same code, or the same header and update). */
function disagreement(codec: DecodedPayload | string, spec: SpecResult): string | null {
  if (typeof codec === 'string' || !spec.ok) {
    const specCode = spec.ok ? 'accepted' : spec.code;
    const codecCode = typeof codec === 'string' ? codec : 'accepted';
    return codecCode === specCode ? null : `codec ${codecCode}, spec ${specCode}${spec.ok ? '' : ` (${spec.detail})`}`;
  }
  const { header, update } = codec;
  if (header.runId !== spec.runId || header.round !== spec.round || !sameSequence(header.baseModelHash, spec.baseModelHash))
    return 'headers differ';
  for (const [t, a] of update.tensors.entries()) {
    const b = spec.tensors[t]!;
    if (!Object.is(a.shift, b.shift) || !Object.is(a.scale, b.scale) || !sameSequence(a.lookup, b.lookup))
      return `tensor ${t}: quantization differs`;
    if (!sameSequence(a.indices, b.indices) || !sameSequence(a.codes, b.codes)) return `tensor ${t}: entries differ`;
  }
  return null;
}

function agree(payload: Uint8Array, wire: WireLayout, expectations: SpecExpectations = {}): string | null {
  return disagreement(codecDecode(payload, wire, expectations), specDecode(payload, wire, expectations));
}

/** The code both decoders give ('accepted' for a valid payload); throws when they differ. */
function codeOf(payload: Uint8Array, wire = WIRE, expectations: SpecExpectations = {}): string {
  const spec = specDecode(payload, wire, expectations);
  const differs = disagreement(codecDecode(payload, wire, expectations), spec);
  if (differs) throw new Error(`the decoders disagree: ${differs}`);
  return spec.ok ? 'accepted' : spec.code;
}

function sectionsOf(payload: Uint8Array, wire = WIRE): SpecTensor[] {
  const result = specDecode(payload, wire);
  if (!result.ok) throw new Error(`not a valid payload: ${result.code}`);
  return result.tensors;
}

function edited(payload: Uint8Array, edit: (bytes: Uint8Array, view: DataView) => void): Uint8Array {
  const copy = payload.slice();
  edit(copy, new DataView(copy.buffer));
  return copy;
}

/** A tensor's gaps Rice-coded with parameter r (PROTOCOL.md, "Index stream"). */
function riceStream(indices: readonly number[], { numChunks, k }: TensorChunking, r: number): { bytes: Uint8Array; bits: number } {
  const bits: number[] = [];
  for (let c = 0; c < numChunks; c++) {
    let prev = -1;
    for (const index of indices.slice(c * k, (c + 1) * k)) {
      const gap = index - prev - 1;
      prev = index;
      for (let q = Math.floor(gap / 2 ** r); q > 0; q--) bits.push(1);
      bits.push(0);
      for (let b = 0; b < r; b++) bits.push(Math.floor(gap / 2 ** b) % 2);
    }
  }
  const bytes = new Uint8Array(Math.ceil(bits.length / 8));
  bits.forEach((bit, i) => (bytes[i >>> 3]! |= bit << (i & 7)));
  return { bytes, bits: bits.length };
}

/** `payload` with tensor t's Rice parameter, stream length and index stream replaced. */
function withStream(payload: Uint8Array, t: number, riceParameter: number, stream: Uint8Array, streamBytes = stream.length): Uint8Array {
  const section = sectionsOf(payload)[t]!;
  const oldEnd = section.codesAt;
  const out = new Uint8Array(payload.length - (oldEnd - section.streamAt) + stream.length);
  out.set(payload.subarray(0, section.streamAt));
  out[section.at + SECTION.riceParameter.at] = riceParameter;
  new DataView(out.buffer).setUint32(section.at + SECTION.streamBytes.at, streamBytes, true);
  out.set(stream, section.streamAt);
  out.set(payload.subarray(oldEnd), section.streamAt + stream.length);
  return out;
}

/** Every tensor's indices as 0, 1, …, k − 2, chunkSize − 1 in each chunk: the longest canonical streams. */
function longestUpdate(wire: WireLayout): CompressedUpdate {
  return {
    tensors: wire.tensors.map(({ numChunks, chunkSize, k }) => ({
      numChunks,
      chunkSize,
      k,
      indices: Uint16Array.from({ length: numChunks * k }, (_, j) => (j % k === k - 1 ? chunkSize - 1 : j % k)),
      codes: new Uint8Array(numChunks * k).fill(2),
      shift: 0,
      scale: 0,
      lookup: new Float32Array(4),
    })),
  };
}

const random = encodeUpdate(ORIGIN, randomUpdate(LAYOUT, 7), WIRE);
const compressed = encodeUpdate(ORIGIN, compressedUpdate(5), WIRE);

describe('PROTOCOL.md and the codec', () => {
  it('lay out the fixed fields alike: HEADER and SECTION are the spec’s byte tables', () => {
    const spec = readFileSync(new URL('../../docs/PROTOCOL.md', import.meta.url), 'utf8');
    const rows = (heading: string) => {
      const start = spec.indexOf(heading);
      const table = spec.slice(start, spec.indexOf('\n\n', spec.indexOf('|---', start)));
      return [...table.matchAll(/^\| (\d+)(?:\.\.(\d+))? \| (.+?) \|/gm)].map(([, from, to, name]) => ({
        at: Number(from),
        bytes: (to === undefined ? Number(from) + 1 : Number(to)) - Number(from),
        name: name!,
      }));
    };
    const fields = (table: Record<string, WireField>) => Object.values(table);
    for (const [heading, table] of [
      ['### Header', HEADER],
      ['### Tensor section', SECTION],
    ] as const) {
      const documented = rows(heading);
      expect(documented.map(({ at, bytes }) => [at, bytes])).toEqual(fields(table).map(({ at, bytes }) => [at, bytes]));
      documented.forEach(({ name }, i) => expect(name.startsWith(fields(table)[i]!.name), name).toBe(true));
    }
  });

  it('bound a payload by the longest valid one, exactly: one byte more is too-large', () => {
    const tiny = wireLayoutOf(parameterLayout(preset('tiny')).tensors);
    expect(maxPayloadBytes(tiny)).toBe(3365);
    for (const wire of [tiny, WIRE, PINNED_WIRE]) {
      expect(maxPayloadBytes(wire)).toBe(specMaxPayloadBytes(wire));
      const longest = encodeUpdate({ ...ORIGIN, runId: 'r'.repeat(64) }, longestUpdate(wire), wire);
      expect(longest.length).toBe(maxPayloadBytes(wire));
      expect(codeOf(longest, wire)).toBe('accepted');
      const oneMore = new Uint8Array(longest.length + 1);
      oneMore.set(longest);
      expect(codeOf(oneMore, wire)).toBe('too-large');
    }
  });

  it('decode the test vectors alike', () => {
    const vectors: [Uint8Array, WireLayout][] = [
      ...[1, 2, 3, 7].map((seed): [Uint8Array, WireLayout] => [encodeUpdate(ORIGIN, randomUpdate(LAYOUT, seed), WIRE), WIRE]),
      ...[1, 2].map((seed): [Uint8Array, WireLayout] => [encodeUpdate(ORIGIN, pinnedUpdate(seed), PINNED_WIRE), PINNED_WIRE]),
      [compressed, WIRE],
    ];
    for (const [payload, wire] of vectors) {
      expect(agree(payload, wire)).toBeNull();
      expect(specDecode(payload, wire).ok).toBe(true);
    }
  });

  it('call every proper prefix of a valid payload truncated', () => {
    for (const payload of [random, compressed]) {
      for (let length = 0; length < payload.length; length++) {
        const code = codeOf(payload.subarray(0, length));
        if (code !== 'truncated') throw new Error(`the first ${length} bytes: ${code}`);
      }
    }
  });

  it('agree on 4,000 mutated payloads', () => {
    const next = rng(77);
    const int = (n: number) => Math.floor(next() * n);
    const bases: [Uint8Array, WireLayout][] = [
      ...[1, 2, 3].map((seed): [Uint8Array, WireLayout] => [
        encodeUpdate({ ...ORIGIN, round: seed }, randomUpdate(LAYOUT, seed), WIRE),
        WIRE,
      ]),
      [compressed, WIRE],
      [encodeUpdate(ORIGIN, pinnedUpdate(3), PINNED_WIRE), PINNED_WIRE],
    ];
    const streams = bases.map(([payload, wire]) => sectionsOf(payload, wire));
    const outcomes = new Map<string, number>();
    const mutate = (base: Uint8Array, sections: SpecTensor[], kind: number): Uint8Array => {
      const bytes = base.slice();
      const view = new DataView(bytes.buffer);
      switch (kind) {
        case 0: // bits flipped anywhere
          for (let f = 1 + int(4); f > 0; f--) {
            const bit = int(bytes.length * 8);
            bytes[bit >>> 3]! ^= 1 << (bit & 7);
          }
          return bytes;
        case 1: // bits flipped inside an index stream, or in the codes after it
        case 2: {
          const s = sections[int(sections.length)]!;
          const end = kind === 1 ? s.codesAt : (sections[sections.indexOf(s) + 1]?.at ?? bytes.length);
          const from = kind === 1 ? s.streamAt : s.codesAt;
          for (let f = 1 + int(3); f > 0; f--) {
            const bit = from * 8 + int((end - from) * 8);
            bytes[bit >>> 3]! ^= 1 << (bit & 7);
          }
          return bytes;
        }
        case 3: {
          // a fixed field of a section or the header rewritten: a nearby value or a random one
          const s = sections[int(sections.length)]!;
          const fields = [...Object.values(SECTION).map((f) => s.at + f.at), ...Object.values(HEADER).map((f) => f.at)];
          const at = fields[int(fields.length)]!;
          if (next() < 0.5) bytes[at] = (bytes[at]! + (next() < 0.5 ? 1 : 255)) & 0xff;
          else view.setUint32(Math.min(at, bytes.length - 4), int(2 ** 32), true);
          return bytes;
        }
        case 4: {
          // a run of one-bits from a random place in a stream
          const s = sections[int(sections.length)]!;
          const at = s.streamAt + int(Math.max(1, s.codesAt - s.streamAt));
          bytes.fill(0xff, at, Math.min(at + 1 + int(40), bytes.length));
          return bytes;
        }
        case 5: {
          // two faults: a field rewritten, then the payload cut or extended
          const twice = mutate(base, sections, int(5));
          if (next() < 0.5) return twice.slice(0, int(twice.length + 1));
          const longer = new Uint8Array(twice.length + 1 + int(8));
          longer.set(twice);
          return longer;
        }
        default:
          return Uint8Array.from({ length: int(base.length + 64) }, (_, i) => (i < 120 && next() < 0.9 ? base[i]! : int(256)));
      }
    };
    for (let trial = 0; trial < 4000; trial++) {
      const b = trial % 10 === 9 ? 4 : trial % 4;
      const [base, wire] = bases[b]!;
      const payload = mutate(base, streams[b]!, trial % 7);
      const spec = specDecode(payload, wire);
      const differs = disagreement(codecDecode(payload, wire), spec);
      if (differs) throw new Error(`trial ${trial}: ${differs}`);
      const code = spec.ok ? 'accepted' : spec.code;
      outcomes.set(code, (outcomes.get(code) ?? 0) + 1);
    }
    console.log('spec-decoder agreement outcomes', Object.fromEntries([...outcomes].sort((a, b) => b[1] - a[1])));
    expect(outcomes.size).toBeGreaterThanOrEqual(12);
  });
});

describe('the order of checks decides a payload with two faults', () => {
  const sections = sectionsOf(compressed);
  const first = sections[0]!;
  const cut = (payload: Uint8Array, length: number) => payload.slice(0, length);
  const lookup = (b: number) => first.at + SECTION.lookup.at + 4 * b;

  it('header: the earlier field first, the caller’s expectations after the whole header', () => {
    const wrongLayoutHash = (b: Uint8Array) => (b[HEADER.layoutHash.at]! ^= 1);
    expect(codeOf(edited(compressed, (b, v) => (v.setUint16(4, 9, true), (b[0] = 0))))).toBe('bad-magic');
    expect(codeOf(edited(compressed, (b) => (b[0] = 0)).subarray(0, 4))).toBe('bad-magic'); // the version is cut off
    expect(codeOf(compressed.subarray(0, 5))).toBe('truncated');
    expect(codeOf(edited(compressed, (b, v) => (v.setUint16(HEADER.flags.at, 1, true), wrongLayoutHash(b))))).toBe('bad-reserved');
    expect(
      codeOf(
        cut(
          edited(compressed, (_, v) => v.setUint16(HEADER.flags.at, 1, true)),
          50,
        ),
      ),
    ).toBe('bad-reserved');
    expect(codeOf(cut(edited(compressed, wrongLayoutHash), 80))).toBe('layout-mismatch');
    expect(codeOf(edited(compressed, (b) => (wrongLayoutHash(b), (b[HEADER.runIdLength.at] = 0))))).toBe('layout-mismatch');
    expect(codeOf(edited(compressed, (_, v) => (v.setUint16(HEADER.k.at, 32, true), v.setUint32(HEADER.tensorCount.at, 9, true))))).toBe(
      'layout-mismatch',
    );
    const notUtf8 = edited(compressed, (b) => (b[HEADER.runIdLength.at + 1] = 0xff));
    expect(codeOf(notUtf8, WIRE, { round: 1 })).toBe('bad-run-id');
    // Expectations come after the header, before any section.
    const brokenBody = edited(compressed, (b) => (b[first.at + SECTION.reserved.at] = 1));
    expect(codeOf(brokenBody)).toBe('bad-reserved');
    expect(codeOf(brokenBody, WIRE, { round: ORIGIN.round + 1 })).toBe('header-mismatch');
    expect(codeOf(compressed, WIRE, { round: ORIGIN.round + 1, runId: 'other' })).toBe('header-mismatch');
    // The run id is every character its bytes spell, a leading byte-order mark included.
    const withBom = encodeUpdate({ ...ORIGIN, runId: '\ufeffrun' }, compressedUpdate(5), WIRE);
    expect(codeOf(withBom, WIRE, { runId: '\ufeffrun' })).toBe('accepted');
    expect(codeOf(withBom, WIRE, { runId: 'run' })).toBe('header-mismatch');
  });

  it('section fields: in table order, each checked when read', () => {
    const r16 = (b: Uint8Array) => (b[first.at + SECTION.riceParameter.at] = 16);
    expect(codeOf(edited(compressed, (b, v) => (v.setUint32(first.at, 5, true), r16(b))))).toBe('layout-mismatch');
    expect(codeOf(edited(compressed, (b) => (r16(b), (b[first.at + SECTION.reserved.at] = 1))))).toBe('bad-rice-parameter');
    expect(codeOf(cut(edited(compressed, r16), first.at + 14))).toBe('bad-rice-parameter'); // cut inside the shift
    expect(codeOf(cut(compressed, first.at + 14))).toBe('truncated');
    // An infinite shift is not a canonical f32: bad-quantization, before its magnitude is looked at.
    expect(codeOf(edited(compressed, (_, v) => v.setFloat32(first.at + SECTION.shift.at, Infinity, true)))).toBe('bad-quantization');
    expect(codeOf(edited(compressed, (_, v) => v.setFloat32(first.at + SECTION.shift.at, -Infinity, true)))).toBe('bad-quantization');
    expect(codeOf(edited(compressed, (_, v) => v.setFloat32(lookup(3), Infinity, true)))).toBe('bad-quantization');
    // The shift's magnitude before the scale.
    expect(
      codeOf(
        edited(compressed, (_, v) => {
          v.setFloat32(first.at + SECTION.shift.at, 2000, true);
          v.setFloat32(first.at + SECTION.scale.at, NaN, true);
        }),
      ),
    ).toBe('value-too-large');
    // The lookup before the stream length.
    expect(
      codeOf(
        edited(compressed, (_, v) => {
          v.setFloat32(lookup(1), -0, true);
          v.setUint32(first.at + SECTION.streamBytes.at, 1e6, true);
        }),
      ),
    ).toBe('bad-quantization');
  });

  it('index stream: its length against the bound, then the payload’s end, then bit by bit', () => {
    const streamBytes = first.codesAt - first.streamAt;
    const setS = (value: number) => (_: Uint8Array, v: DataView) => v.setUint32(first.at + SECTION.streamBytes.at, value, true);
    // S one byte too long (within the bound for its r) is bad-index-stream; when it also runs past
    // the end of the payload, truncated comes first.
    expect(codeOf(edited(compressed, setS(streamBytes + 1)))).toBe('bad-index-stream');
    expect(codeOf(cut(edited(compressed, setS(streamBytes + 1)), first.streamAt + 10))).toBe('truncated');
    // S above the bound: bad-index-stream, before the payload's end matters.
    expect(codeOf(cut(edited(compressed, setS(1e6)), first.streamAt + 10))).toBe('bad-index-stream');
    // A run of one-bits: out of range when the stream holds enough of them, bad-index-stream when it ends first.
    expect(codeOf(withStream(compressed, 0, first.riceParameter, new Uint8Array(20).fill(0xff)))).toBe('index-out-of-range');
    expect(codeOf(withStream(compressed, 0, first.riceParameter, new Uint8Array(2).fill(0xff)))).toBe('bad-index-stream');
    // Tensor 4 has 67 one-element chunks (k = 1): its first one-bit already leaves the chunk.
    expect(codeOf(withStream(compressed, 4, 0, Uint8Array.of(1)))).toBe('index-out-of-range');
    expect(codeOf(withStream(compressed, 4, 0, Uint8Array.of(0)))).toBe('bad-index-stream');
  });

  it('after the last index: the stream length, then its padding, then the canonical parameter', () => {
    const decoded = specDecode(compressed, WIRE);
    if (!decoded.ok) throw new Error(decoded.code);
    let lengthFirst = 0;
    let paddingFirst = 0;
    decoded.tensors.forEach((tensor, t) => {
      const chunking = WIRE.tensors[t]!;
      const canonical = riceStream(tensor.indices, chunking, tensor.riceParameter);
      const padding = (stream: { bytes: Uint8Array; bits: number }) => stream.bits % 8 !== 0;
      if (padding(canonical)) {
        // One zero byte too many, and a padding bit set: the length is wrong first.
        const longer = new Uint8Array(canonical.bytes.length + 1);
        longer.set(canonical.bytes);
        longer[canonical.bytes.length - 1]! |= 0x80;
        expect(codeOf(withStream(compressed, t, tensor.riceParameter, longer)), `tensor ${t}`).toBe('bad-index-stream');
        lengthFirst++;
      }
      for (const r of [tensor.riceParameter - 1, tensor.riceParameter + 1]) {
        if (r < 0 || r > 15) continue;
        const other = riceStream(tensor.indices, chunking, r);
        const variant = withStream(compressed, t, r, other.bytes);
        if (variant.length > maxPayloadBytes(WIRE)) continue;
        expect(codeOf(variant), `tensor ${t} r ${r}`).toBe('bad-rice-parameter');
        if (!padding(other)) continue;
        // Another parameter and a padding bit set: the padding is checked first.
        const withPadding = other.bytes.slice();
        withPadding[withPadding.length - 1]! |= 0x80;
        expect(codeOf(withStream(compressed, t, r, withPadding)), `tensor ${t} r ${r}`).toBe('bad-padding');
        paddingFirst++;
      }
    });
    expect(lengthFirst).toBeGreaterThan(0);
    expect(paddingFirst).toBeGreaterThan(0);
  });

  it('codes: padding, then scale 0, then bins 0 to 3 in order; the bound is on the f32 sum', () => {
    const last = sections[4]!; // 67 codes: the last byte uses 3 of its 4 slots
    const withTrailing = new Uint8Array(compressed.length + 1);
    withTrailing.set(compressed);
    withTrailing[last.codesAt + Math.ceil(67 / 4) - 1]! |= 0xc0;
    expect(codeOf(withTrailing)).toBe('bad-padding');
    // The bins of tensor 0 in use are 1 and 3 (codec.test.ts checks it); 0 and 2 are unused.
    const setLookups = (values: [number, number][]) => (_: Uint8Array, v: DataView) => {
      for (const [b, value] of values) v.setFloat32(lookup(b), value, true);
    };
    expect(
      codeOf(
        edited(
          compressed,
          setLookups([
            [0, 1e-3],
            [3, 2000],
          ]),
        ),
      ),
    ).toBe('bad-quantization');
    expect(
      codeOf(
        edited(
          compressed,
          setLookups([
            [1, 2000],
            [2, 1e-3],
          ]),
        ),
      ),
    ).toBe('value-too-large');
    expect(
      codeOf(
        edited(compressed, (b, v) => {
          setLookups([[3, 2000]])(b, v);
          v.setFloat32(first.at + SECTION.scale.at, 0, true);
        }),
      ),
    ).toBe('bad-codes');
    // lookup 1000 and shift 1e-5 sum to 1000.00001, which f32 rounds to 1000: valid.
    const edge = edited(compressed, (b, v) => {
      setLookups([[3, 1000]])(b, v);
      v.setFloat32(first.at + SECTION.shift.at, 1e-5, true);
    });
    expect(codeOf(edge)).toBe('accepted');
    expect(codeOf(edited(edge, setLookups([[3, 1000.0625]])))).toBe('value-too-large');
  });

  it('length first: a payload longer than the longest valid one is too-large whatever else is wrong', () => {
    const junk = new Uint8Array(maxPayloadBytes(WIRE) + 1).fill(0xff);
    expect(codeOf(junk)).toBe('too-large');
    expect(codeOf(junk.subarray(1))).toBe('bad-magic');
  });
});
