// Token shards: a source's documents, tokenized, split train / held-out by document, stored as
// little-endian u16 binary files of bounded size and listed in a manifest.json with each file's
// token count and blake3 hash. Building and verifying are pure functions over bytes; ./node.ts
// reads and writes them with fs, ./browser.ts fetches them from /data/<tokenizer>/.
import { CodedError } from '../base/errors.ts';
import { blake3, blake3Stream } from '../base/blake3.ts';
import { contentHash } from '../base/content-hash.ts';
import { bytesToHex } from '../base/hex.ts';
import { unigramEntropyNats } from './entropy.ts';
import type { TextDocument, TextSource } from './text-source.ts';
import type { Tokenizer, TokenizerName } from './tokenizer.ts';

export const SHARD_FORMAT = 'webloco-token-shards/1';
export type SplitName = 'train' | 'heldout';
const SPLIT_NAMES: readonly SplitName[] = ['train', 'heldout'];

/** 2^20 tokens = a 2 MiB file: small enough to fetch and hash without stalling a page. */
export const DEFAULT_SHARD_TOKENS = 1 << 20;

const HELD_OUT_FRACTION = 0.05;
/** A document is held out when the first 4 bytes of its id's blake3, as a little-endian u32, fall below this. */
const HELD_OUT_THRESHOLD = Math.floor(HELD_OUT_FRACTION * 2 ** 32);
const SPLIT_RULE =
  `held out iff u32le(blake3(utf8("<source>/<document id>"))[0..4]) < ${HELD_OUT_THRESHOLD} (${HELD_OUT_FRACTION * 100}%); ` +
  'documents keep source order within each split, each followed by the tokenizer document boundary';

export interface ShardEntry {
  file: string;
  tokens: number;
  /** blake3 of the file's bytes, lowercase hex. */
  blake3: string;
}

export interface SplitManifest {
  documents: number;
  tokens: number;
  shards: ShardEntry[];
}

/** Everything that decides the shards' contents: equal recipes give byte-identical shards. */
export interface ShardRecipe {
  format: typeof SHARD_FORMAT;
  source: { name: string; description: string; documents: number; blake3: string };
  tokenizer: { name: TokenizerName; vocabSize: number; endOfText: number | null; documentBoundary: string };
  dtype: 'uint16-le';
  split: { rule: string; heldOutFraction: number };
  shardTokens: number;
}

export interface ShardManifest extends ShardRecipe {
  splits: Record<SplitName, SplitManifest>;
  /** Unigram entropy of the train split in nats per token: the loss a context-free model reaches. */
  stats: { trainUnigramEntropyNats: number };
}

export interface ShardFile {
  file: string;
  bytes: Uint8Array;
}

const utf8 = new TextEncoder();
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function isHeldOut(sourceName: string, documentId: string): boolean {
  const digest = blake3(utf8.encode(`${sourceName}/${documentId}`));
  const word = (digest[0]! | (digest[1]! << 8) | (digest[2]! << 16) | (digest[3]! << 24)) >>> 0;
  return word < HELD_OUT_THRESHOLD;
}

/** blake3 over every (id, text) in order, NUL-separated: changes when any document does. */
function hashDocuments(documents: readonly TextDocument[]): string {
  const hasher = blake3Stream();
  for (const doc of documents) hasher.update(utf8.encode(`${doc.id}\0${doc.text}\0`));
  return bytesToHex(hasher.digest());
}

export function shardRecipe(
  source: Pick<TextSource, 'name' | 'description'>,
  documents: readonly TextDocument[],
  tokenizer: Tokenizer,
  shardTokens = DEFAULT_SHARD_TOKENS,
): ShardRecipe {
  if (!Number.isInteger(shardTokens) || shardTokens < 1) throw new Error(`shardTokens must be a positive integer, got ${shardTokens}`);
  return {
    format: SHARD_FORMAT,
    source: { name: source.name, description: source.description, documents: documents.length, blake3: hashDocuments(documents) },
    tokenizer: {
      name: tokenizer.name,
      vocabSize: tokenizer.vocabSize,
      endOfText: tokenizer.endOfText ?? null,
      documentBoundary: tokenizer.documentBoundary,
    },
    dtype: 'uint16-le',
    split: { rule: SPLIT_RULE, heldOutFraction: HELD_OUT_FRACTION },
    shardTokens,
  };
}

/** The recipe part of a manifest, in a fixed key order, for comparing with a fresh recipe. */
export function recipeKey(recipe: ShardRecipe): string {
  const { format, source, tokenizer, dtype, split, shardTokens } = recipe;
  return JSON.stringify([
    format,
    [source?.name, source?.description, source?.documents, source?.blake3],
    [tokenizer?.name, tokenizer?.vocabSize, tokenizer?.endOfText, tokenizer?.documentBoundary],
    dtype,
    [split?.rule, split?.heldOutFraction],
    shardTokens,
  ]);
}

function encodeU16LE(tokens: Uint16Array): Uint8Array {
  if (LITTLE_ENDIAN_HOST) return new Uint8Array(tokens.buffer.slice(tokens.byteOffset, tokens.byteOffset + tokens.byteLength));
  const bytes = new Uint8Array(tokens.length * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < tokens.length; i++) view.setUint16(i * 2, tokens[i]!, true);
  return bytes;
}

function decodeU16LE(bytes: Uint8Array): Uint16Array {
  if (bytes.length % 2 !== 0) throw new Error(`a u16 shard must have an even byte length, got ${bytes.length}`);
  const tokens = new Uint16Array(bytes.length / 2);
  if (LITTLE_ENDIAN_HOST) new Uint8Array(tokens.buffer).set(bytes);
  else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < tokens.length; i++) tokens[i] = view.getUint16(i * 2, true);
  }
  return tokens;
}

/** Cuts one split's token stream into shards of at most `shardTokens` tokens. */
class SplitWriter {
  readonly files: ShardFile[] = [];
  readonly entries: ShardEntry[] = [];
  private buffer: Uint16Array;
  private filled = 0;
  documents = 0;
  tokens = 0;

  constructor(
    private readonly split: SplitName,
    private readonly shardTokens: number,
  ) {
    this.buffer = new Uint16Array(shardTokens);
  }

  append(ids: ArrayLike<number>): void {
    for (let i = 0; i < ids.length; i++) {
      this.buffer[this.filled++] = ids[i]!;
      if (this.filled === this.shardTokens) this.flush();
    }
    this.tokens += ids.length;
  }

  flush(): void {
    if (this.filled === 0) return;
    const bytes = encodeU16LE(this.buffer.subarray(0, this.filled));
    const file = `${this.split}-${String(this.entries.length).padStart(4, '0')}.bin`;
    this.files.push({ file, bytes });
    this.entries.push({ file, tokens: this.filled, blake3: contentHash(bytes) });
    this.filled = 0;
  }

  /** The whole split as one array, for the manifest's statistics. */
  concatenated(): Uint16Array {
    return concatShards(
      this.files.map((f) => decodeU16LE(f.bytes)),
      this.tokens,
    );
  }
}

function concatShards(parts: readonly Uint16Array[], total: number): Uint16Array {
  const out = new Uint16Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Tokenizes and shards `documents`; the result is a pure function of its arguments. */
export function buildShards(
  source: Pick<TextSource, 'name' | 'description'>,
  documents: readonly TextDocument[],
  tokenizer: Tokenizer,
  shardTokens = DEFAULT_SHARD_TOKENS,
): { manifest: ShardManifest; files: ShardFile[] } {
  const recipe = shardRecipe(source, documents, tokenizer, shardTokens);
  if (tokenizer.vocabSize > 65536)
    throw new Error(`tokenizer ${tokenizer.name} has ${tokenizer.vocabSize} ids, more than u16 shards can hold`);
  const writers = { train: new SplitWriter('train', shardTokens), heldout: new SplitWriter('heldout', shardTokens) };
  for (const doc of documents) {
    const ids = tokenizer.encodeDocument(doc.text);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!(id >= 0 && id < tokenizer.vocabSize))
        throw new Error(`tokenizer ${tokenizer.name} produced id ${id} for document ${doc.id}, outside [0, ${tokenizer.vocabSize})`);
    }
    const writer = isHeldOut(source.name, doc.id) ? writers.heldout : writers.train;
    writer.append(ids);
    writer.documents++;
  }
  for (const split of SPLIT_NAMES) {
    writers[split].flush();
    if (writers[split].tokens === 0)
      throw new Error(`the ${split} split of ${source.name} is empty (${documents.length} documents): use a source with more documents`);
  }
  const splits = Object.fromEntries(
    SPLIT_NAMES.map((split) => [
      split,
      { documents: writers[split].documents, tokens: writers[split].tokens, shards: writers[split].entries },
    ]),
  ) as Record<SplitName, SplitManifest>;
  const manifest: ShardManifest = {
    ...recipe,
    splits,
    stats: { trainUnigramEntropyNats: unigramEntropyNats(writers.train.concatenated(), tokenizer.vocabSize) },
  };
  return { manifest, files: [...writers.train.files, ...writers.heldout.files] };
}

/** Shards that are missing or damaged: the fix is always to (re)build them. */
export class ShardsUnavailableError extends CodedError<'shards-unavailable'> {
  constructor(problem: string) {
    super('shards-unavailable', `${problem}: run \`npm run data\` to build the token shards (it rewrites only what is missing or wrong)`);
  }
}

export function parseManifest(text: string, where: string): ShardManifest {
  let manifest: ShardManifest;
  try {
    manifest = JSON.parse(text) as ShardManifest;
  } catch {
    throw new ShardsUnavailableError(`${where} is not a JSON token-shard manifest`);
  }
  if (manifest?.format !== SHARD_FORMAT || !manifest.splits?.train || !manifest.splits?.heldout) {
    throw new ShardsUnavailableError(`${where} is not a ${SHARD_FORMAT} manifest (format ${JSON.stringify(manifest?.format)})`);
  }
  return manifest;
}

/** One split, all shards verified and joined into a single token stream. */
export interface TokenSplit {
  split: SplitName;
  tokens: Uint16Array;
  manifest: ShardManifest;
}

/**
 * Reads every shard of `split` through `readShard` (undefined = not there), checks length and
 * blake3 against the manifest, and joins them. `where` names the folder or URL for errors.
 */
export async function loadSplit(
  manifest: ShardManifest,
  split: SplitName,
  readShard: (file: string) => Promise<Uint8Array | undefined>,
  where: string,
): Promise<TokenSplit> {
  const entries = manifest.splits[split].shards;
  const parts = await Promise.all(
    entries.map(async (entry) => {
      const bytes = await readShard(entry.file);
      if (bytes === undefined) throw new ShardsUnavailableError(`shard ${entry.file} listed in ${where}/manifest.json is missing`);
      if (bytes.length !== entry.tokens * 2) {
        throw new ShardsUnavailableError(
          `shard ${where}/${entry.file} is corrupted: ${bytes.length} bytes, the manifest says ${entry.tokens} tokens (${entry.tokens * 2} bytes)`,
        );
      }
      const actual = contentHash(bytes);
      if (actual !== entry.blake3) {
        throw new ShardsUnavailableError(`shard ${where}/${entry.file} is corrupted: blake3 ${actual}, the manifest says ${entry.blake3}`);
      }
      return decodeU16LE(bytes);
    }),
  );
  const total = entries.reduce((sum, e) => sum + e.tokens, 0);
  if (total !== manifest.splits[split].tokens) {
    throw new ShardsUnavailableError(
      `${where}/manifest.json is inconsistent: its ${split} shards hold ${total} tokens, its total says ${manifest.splits[split].tokens}`,
    );
  }
  return { split, tokens: concatShards(parts, total), manifest };
}
