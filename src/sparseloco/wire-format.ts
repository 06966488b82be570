// What the SparseLoCo wire format is, apart from the code that reads and writes it: its constants,
// the one table of where each fixed field of the header and of a tensor section lies (the encoder
// writes and the decoder reads through it; docs/PROTOCOL.md §2 prints it and a test compares the
// two), and the error every broken rule throws, with its code.
import { CodedError } from '../base/errors.ts';

export const WIRE_MAGIC = 'WLCO';
export const WIRE_VERSION = 1;
export const MAX_RUN_ID_BYTES = 64;
export const HASH_BYTES = 32;
/**
 * Quantization scales outside this range are rejected (the Gauntlet's sanity rule), except exactly
 * +0: the compressor's output when every selected value of a tensor is equal (all codes 2, each
 * decoding to the shift), which Adam's first steps produce on norm gains. The compressor's scale
 * is 1.5·std, never negative.
 */
export const MIN_ABS_SCALE = 1e-12;
export const MAX_ABS_SCALE = 1e4;
/**
 * The largest magnitude of a shift or of a value a payload decodes to (ftz(f32(lookup[code] + shift))
 * for every code it uses). The Templar reference skips a peer whose dequantized values exceed 1e3;
 * here such a payload is not a valid payload at all (value-too-large), and the encoder refuses it.
 */
export const MAX_ABS_VALUE = 1e3;
/** Indices travel as Uint16, so a chunk holds at most 65536 elements and gaps need ≤ 15 remainder bits. */
export const MAX_CHUNK_SIZE = 65536;
export const MAX_RICE_PARAMETER = 15;

/** A fixed-size field: its offset from the start of the header or of its tensor section, its size, its name in PROTOCOL.md. */
export interface WireField {
  readonly at: number;
  readonly bytes: number;
  readonly name: string;
}

type FieldList = readonly (readonly [key: string, bytes: number, name: string])[];
type FieldTable<F extends FieldList> = { readonly [E in F[number] as E[0]]: WireField };

/** Lays the fields end to end, in order, from offset 0. */
function fieldTable<const F extends FieldList>(fields: F): FieldTable<F> {
  let at = 0;
  const table: Record<string, WireField> = {};
  for (const [key, bytes, name] of fields) {
    table[key] = { at, bytes, name };
    at += bytes;
  }
  return table as FieldTable<F>;
}

const end = (field: WireField) => field.at + field.bytes;

/** The header's fixed fields; the run id (run id length bytes of UTF-8) follows them. */
export const HEADER = fieldTable([
  ['magic', 4, 'magic'],
  ['version', 2, 'version'],
  ['flags', 2, 'flags'],
  ['round', 4, 'round'],
  ['baseModelHash', HASH_BYTES, 'base model hash'],
  ['layoutHash', HASH_BYTES, 'layout hash'],
  ['chunkRows', 2, 'chunk rows'],
  ['chunkCols', 2, 'chunk cols'],
  ['k', 2, 'k'],
  ['tensorCount', 4, 'tensor count'],
  ['runIdLength', 1, 'run id length'],
]);

/** A tensor section's fixed fields; its index stream (index stream length bytes) and its codes follow them. */
export const SECTION = fieldTable([
  ['numChunks', 4, 'numChunks'],
  ['chunkSize', 4, 'chunkSize'],
  ['k', 2, 'k'],
  ['riceParameter', 1, 'Rice parameter'],
  ['reserved', 1, 'reserved'],
  ['shift', 4, 'shift'],
  ['scale', 4, 'scale'],
  ['lookup', 16, 'lookup'],
  ['streamBytes', 4, 'index stream length'],
]);

/** Bytes before the run id: magic, version, flags, round, two hashes, chunk shape, k, tensor count, run id length (87). */
export const HEADER_FIXED_BYTES = end(HEADER.runIdLength);
/** Bytes per tensor before its index stream: geometry, Rice parameter, quantization, stream length (40). */
export const TENSOR_FIXED_BYTES = end(SECTION.streamBytes);

/** Every way a payload (or an update handed to the encoder) breaks the format; PROTOCOL.md's error table. */
export type CodecErrorCode =
  | 'too-large' // longer than the longest valid payload for the expected layout
  | 'truncated' // the payload ends inside a field (an index stream running past the end included)
  | 'bad-magic'
  | 'unsupported-version'
  | 'bad-reserved' // header flags or a tensor's reserved byte not zero
  | 'layout-mismatch' // layout hash, chunk shape, k, tensor count or a tensor's geometry differs
  | 'bad-run-id' // empty, longer than 64 bytes, or not UTF-8
  | 'header-mismatch' // round, base model hash or run id differs from the expected one
  | 'bad-header' // (encoder) round outside u32 or base model hash not 32 bytes
  | 'bad-rice-parameter' // above 15, or not the canonical one (the shortest stream, the smallest on a tie)
  | 'bad-quantization' // shift, scale or lookup not finite, −0 or subnormal; scale negative or outside {0} ∪ [1e-12, 1e4]; an unused bin's lookup not +0
  | 'value-too-large' // |shift| or a decoded value |ftz(f32(lookup[code] + shift))| above 1e3
  | 'bad-index-stream' // stream length above the bound, the stream ends inside an index, or longer than its indices
  | 'index-out-of-range' // an index at or past the chunk size
  | 'bad-indices' // (encoder) indices not strictly ascending within a chunk, or wrong count
  | 'bad-codes' // (encoder) a code above 3, or wrong count; (both) scale 0 with a code other than 2
  | 'bad-padding' // the bits after the last index or code are not zero
  | 'trailing-bytes';

/** A payload (or an update handed to the encoder) that breaks the wire format. Its message is "<code>: <detail>". */
export class CodecError extends CodedError<CodecErrorCode> {
  constructor(code: CodecErrorCode, detail: string) {
    super(code, `${code}: ${detail}`);
  }
}

export function fail(code: CodecErrorCode, detail: string): never {
  throw new CodecError(code, detail);
}
