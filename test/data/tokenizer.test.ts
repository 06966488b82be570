// Both tokenizers round-trip real text, and GPT-2's ids are the published r50k_base ids.
import { describe, expect, it } from 'vitest';
import { brownCorpus } from '../../src/data/node.ts';
import { GPT2_END_OF_TEXT, loadTokenizer } from '../../src/data/tokenizer.ts';

const documents = await brownCorpus().documents();
const paragraph = documents
  .find((d) => d.id === 'ck01')!
  .text.split('\n')
  .slice(0, 5)
  .join('\n');
const unicode = 'naïve café — 東京 🚀 <|endoftext|>';

describe('bytes tokenizer', () => {
  it('is UTF-8: vocab 256, ids are bytes, round-trips any text', async () => {
    const bytes = await loadTokenizer('bytes');
    expect(bytes.vocabSize).toBe(256);
    expect(bytes.endOfText).toBeUndefined();
    expect(Array.from(bytes.encode('Aé'))).toEqual([0x41, 0xc3, 0xa9]);
    for (const text of [paragraph, unicode, '']) expect(bytes.decode(bytes.encode(text))).toBe(text);
    // Documents end with a blank line, the byte vocabulary's only way to mark a boundary.
    expect(bytes.decode(bytes.encodeDocument('end'))).toBe('end\n\n');
    // A window cut inside a multi-byte character decodes leniently instead of throwing.
    expect(bytes.decode([0x41, 0xc3])).toBe('A\ufffd');
  });
});

describe('GPT-2 tokenizer', () => {
  it('encodes with the r50k_base ids and round-trips real and unusual text', async () => {
    const gpt2 = await loadTokenizer('gpt2');
    expect(gpt2.vocabSize).toBe(50257);
    expect(gpt2.endOfText).toBe(GPT2_END_OF_TEXT);
    // The ids GPT-2 (and tiktoken's r50k_base) give "Hello world".
    expect(Array.from(gpt2.encode('Hello world'))).toEqual([15496, 995]);
    for (const text of [paragraph, unicode, '']) expect(gpt2.decode(gpt2.encode(text))).toBe(text);
    const ids = Array.from(gpt2.encode(paragraph));
    // BPE compresses English roughly 4 bytes per token.
    expect(ids.length).toBeLessThan(paragraph.length / 3);
    expect(Math.max(...ids)).toBeLessThan(GPT2_END_OF_TEXT);
  });

  it('ends each document with <|endoftext|> and treats that string inside text as text', async () => {
    const gpt2 = await loadTokenizer('gpt2');
    const ids = Array.from(gpt2.encodeDocument('a <|endoftext|> b'));
    expect(ids.at(-1)).toBe(GPT2_END_OF_TEXT);
    expect(ids.indexOf(GPT2_END_OF_TEXT)).toBe(ids.length - 1);
    expect(gpt2.decode(ids)).toBe('a <|endoftext|> b<|endoftext|>');
  });
});
