// Tokenizers behind one interface: UTF-8 bytes (vocab 256, the `tiny` preset) and GPT-2 BPE
// (r50k_base, vocab 50257, the `small` and `base` presets). Every id fits in a u16, which is
// how shards store them. GPT-2's merge table is about 1 MB of JavaScript, so it is loaded only
// when asked for (`loadTokenizer('gpt2')`), never by importing this file.

export type TokenizerName = 'bytes' | 'gpt2';
export const TOKENIZER_NAMES: readonly TokenizerName[] = ['bytes', 'gpt2'];

export interface Tokenizer {
  readonly name: TokenizerName;
  readonly vocabSize: number;
  /** The end-of-text id that separates documents, where the vocabulary has one (GPT-2: 50256). */
  readonly endOfText: number | undefined;
  /** How `encodeDocument` marks the end of a document, in words, for manifests. */
  readonly documentBoundary: string;
  /** Text to ids; special-token strings in the text are encoded as ordinary text. */
  encode(text: string): ArrayLike<number>;
  /** Ids to text; a window cut mid-character decodes to U+FFFD rather than throwing. */
  decode(tokens: ArrayLike<number>): string;
  /** A document's ids followed by the document boundary: what a shard holds per document. */
  encodeDocument(text: string): ArrayLike<number>;
}

const utf8 = new TextEncoder();
const lenientUtf8 = new TextDecoder('utf-8', { fatal: false });

export const bytesTokenizer: Tokenizer = {
  name: 'bytes',
  vocabSize: 256,
  endOfText: undefined,
  // All 256 ids are bytes, so there is no spare id for end-of-text: a blank line marks it.
  documentBoundary: 'a blank line (bytes 0x0a 0x0a after the text)',
  encode: (text) => utf8.encode(text),
  decode: (tokens) => lenientUtf8.decode(Uint8Array.from(tokens)),
  encodeDocument: (text) => utf8.encode(`${text}\n\n`),
};

const GPT2_VOCAB_SIZE = 50257;
export const GPT2_END_OF_TEXT = 50256;

let gpt2: Promise<Tokenizer> | undefined;

async function createGpt2Tokenizer(): Promise<Tokenizer> {
  // The r50k_base module loads only its own merge ranks (the package's main entry loads all).
  const encoding = (await import('gpt-tokenizer/encoding/r50k_base')).default;
  if (encoding.vocabularySize !== GPT2_VOCAB_SIZE) {
    throw new Error(
      `gpt-tokenizer's r50k_base has ${encoding.vocabularySize} tokens, expected ${GPT2_VOCAB_SIZE}: reinstall gpt-tokenizer 4.x`,
    );
  }
  // An empty disallow set: '<|endoftext|>' inside a document is text, not a boundary.
  const asText = { disallowedSpecial: new Set<string>() };
  const encode = (text: string): number[] => encoding.encode(text, asText);
  return {
    name: 'gpt2',
    vocabSize: GPT2_VOCAB_SIZE,
    endOfText: GPT2_END_OF_TEXT,
    documentBoundary: `the <|endoftext|> token (${GPT2_END_OF_TEXT}) after the text`,
    encode,
    decode: (tokens) => encoding.decode(Array.from(tokens)),
    encodeDocument: (text) => {
      const ids = encode(text);
      ids.push(GPT2_END_OF_TEXT);
      return ids;
    },
  };
}

export function loadTokenizer(name: TokenizerName): Promise<Tokenizer> {
  switch (name) {
    case 'bytes':
      return Promise.resolve(bytesTokenizer);
    case 'gpt2':
      // A failed load is not cached, so a later call can try again.
      return (gpt2 ??= createGpt2Tokenizer().catch((err: unknown) => {
        gpt2 = undefined;
        throw err;
      }));
    default:
      return Promise.reject(new Error(`unknown tokenizer '${String(name)}': use one of ${TOKENIZER_NAMES.join(', ')}`));
  }
}
