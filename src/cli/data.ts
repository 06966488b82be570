// `webloco data`: tokenizes the Brown corpus into verified u16 shards under public/data/<tokenizer>/
// (train + held-out split, manifest.json with blake3 hashes). Skips a tokenizer whose shards are
// already up to date, so it is cheap to run before every dev server or test run.
import { join, resolve } from 'node:path';
import { DEFAULT_DATA_DIR, brownCorpus, writeTokenShards } from '../data/node.ts';
import { DEFAULT_SHARD_TOKENS } from '../data/shards.ts';
import { loadTokenizer, TOKENIZER_NAMES, type TokenizerName } from '../data/tokenizer.ts';
import { parseArgs } from './args.ts';

export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv, { tokenizer: 'string', out: 'string', 'shard-tokens': 'number', force: 'boolean' });
  const choice = args.tokenizer ?? 'all';
  const names: readonly TokenizerName[] =
    choice === 'all' ? TOKENIZER_NAMES : TOKENIZER_NAMES.includes(choice as TokenizerName) ? [choice as TokenizerName] : [];
  if (names.length === 0) throw new Error(`--tokenizer must be one of ${[...TOKENIZER_NAMES, 'all'].join(', ')}, got '${choice}'`);
  const outDir = args.out === undefined ? DEFAULT_DATA_DIR : resolve(args.out);
  const source = brownCorpus();
  for (const name of names) {
    const started = performance.now();
    const tokenizer = await loadTokenizer(name);
    const directory = join(outDir, name);
    const { manifest, written } = await writeTokenShards(directory, source, tokenizer, {
      shardTokens: args['shard-tokens'] ?? DEFAULT_SHARD_TOKENS,
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
