// Token shards in the browser (window or worker): fetched from the static site, where Vite and
// the hub serve public/data/<tokenizer>/ as /data/<tokenizer>/, and verified like in Node.
import { loadSplit, parseManifest, ShardsUnavailableError, type ShardManifest, type SplitName, type TokenSplit } from './shards.ts';
import type { TokenizerName } from './tokenizer.ts';

/** Where the shards of `tokenizer` are served: '/data/bytes', '/data/gpt2'. */
export function dataUrl(tokenizer: TokenizerName, base = '/data'): string {
  return `${base.replace(/\/$/, '')}/${tokenizer}`;
}

async function fetchBytes(url: string): Promise<Uint8Array | undefined> {
  const response = await fetch(url);
  if (response.status === 404) return undefined;
  if (!response.ok)
    throw new Error(`fetching ${url} failed: HTTP ${response.status} ${response.statusText}; check that the server is running`);
  // A dev server answers unknown paths with its index page: that means the file is not there.
  if ((response.headers.get('content-type') ?? '').startsWith('text/html')) return undefined;
  return new Uint8Array(await response.arrayBuffer());
}

async function fetchManifest(url: string): Promise<ShardManifest> {
  const bytes = await fetchBytes(`${url}/manifest.json`);
  if (bytes === undefined) throw new ShardsUnavailableError(`no token shards at ${url}/ (manifest.json is missing)`);
  return parseManifest(new TextDecoder().decode(bytes), `${url}/manifest.json`);
}

/** One split from `url` (e.g. dataUrl('bytes')), every shard checked against the manifest. */
export async function fetchSplit(url: string, split: SplitName): Promise<TokenSplit> {
  const manifest = await fetchManifest(url);
  return loadSplit(manifest, split, (file) => fetchBytes(`${url}/${file}`), url);
}
