// `webloco data`: tokenizes the Brown corpus into verified u16 shards under public/data/<tokenizer>/
// (train + held-out split, manifest.json with blake3 hashes). Skips a tokenizer whose shards are
// already up to date, so it is cheap to run before every dev server or test run.
import { join, resolve } from 'node:path';
import { DEFAULT_DATA_DIR, brownCorpus, writeTokenShards } from '../data/node.ts';
import { DEFAULT_SHARD_TOKENS } from '../data/shards.ts';
import { loadTokenizer, TOKENIZER_NAMES, type TokenizerName } from '../data/tokenizer.ts';
import { UsageError, type CommandSpec, type OptionValues } from './args.ts';

export const command = {
  name: 'data',
  summary: 'tokenize the Brown corpus into verified shards under public/data/',
  options: {
    tokenizer: { kind: 'string', default: 'all', help: `the tokenizer whose shards to write: ${[...TOKENIZER_NAMES, 'all'].join(', ')}` },
    out: { kind: 'string', placeholder: 'DIR', help: 'write DIR/<tokenizer>/ instead of public/data/<tokenizer>/' },
    'shard-tokens': { kind: 'number', default: DEFAULT_SHARD_TOKENS, help: 'tokens per shard file' },
    force: { kind: 'boolean', help: 'rewrite the shards even when they are up to date' },
  },
  details: [
    'Each tokenizer gets a train and a held-out split and a manifest.json with their BLAKE3 hashes; shards already up to date are kept.',
  ],
} satisfies CommandSpec;

export async function run(args: OptionValues<typeof command.options>): Promise<void> {
  const choice = args.tokenizer;
  const names: readonly TokenizerName[] =
    choice === 'all' ? TOKENIZER_NAMES : TOKENIZER_NAMES.includes(choice as TokenizerName) ? [choice as TokenizerName] : [];
  if (names.length === 0) throw new UsageError(`--tokenizer must be one of ${[...TOKENIZER_NAMES, 'all'].join(', ')}, got '${choice}'`);
  const outDir = args.out === undefined ? DEFAULT_DATA_DIR : resolve(args.out);
  const source = brownCorpus();
  for (const name of names) {
    const started = performance.now();
    const tokenizer = await loadTokenizer(name);
    const directory = join(outDir, name);
    const { manifest, written } = await writeTokenShards(directory, source, tokenizer, {
      shardTokens: args['shard-tokens'],
      force: args.force ?? false,
    });
    const { train, heldout } = manifest.splits;
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(
      `${name}: ${written ? 'wrote' : 'up to date,'} ${directory} — train ${train.tokens} tokens / ${train.documents} docs in ${train.shards.length} shards, ` +
        `held-out ${heldout.tokens} tokens / ${heldout.documents} docs; unigram entropy ${manifest.stats.trainUnigramEntropyNats.toFixed(3)} nats; ${seconds} s`,
    );
  }
}
