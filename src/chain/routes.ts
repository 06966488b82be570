// The dev chain's HTTP API, for the hub to mount on its server (JSON in and out):
//   GET  /api/chain/head               the head, the run's clock and authority
//   GET  /api/chain/blocks?from=N[&limit=M]   stored blocks from height N (at most 1000)
//   GET  /api/chain/metagraph?from=UID[&limit=N]   registered hotkeys by uid (at most 1000 a page), validators, weights
//   POST /api/chain/extrinsics         submit {call, …}; answers once it is in a stored block
// Browsers verify what they read with verify.ts. `handleChainRequest` is the whole logic as a
// function of (method, url, body); `chainRoutes` adapts it to node:http.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ChainError, MAX_EXTRINSIC_BYTES } from './extrinsics.ts';
import type { DevChain } from './dev-chain.ts';

const CHAIN_API_PREFIX = '/api/chain/';
const MAX_BLOCKS_PER_REQUEST = 1000;
const METAGRAPH_PAGE = 256;
const MAX_METAGRAPH_PAGE = 1000;

export interface ChainResponse {
  status: number;
  json: unknown;
}

function error(status: number, code: string, message: string): ChainResponse {
  return { status, json: { error: { code, message } } };
}

/** A query parameter in plain decimal digits, `absent` when it is not given, undefined when it is not a number. */
function pageParameter(params: URLSearchParams, name: string, absent: number): number | undefined {
  const value = params.get(name);
  if (value === null) return absent;
  return /^\d{1,15}$/.test(value) ? Number(value) : undefined;
}

/** Answers a request under /api/chain/, or returns undefined for any other path. */
async function handleChainRequest(chain: DevChain, method: string, url: string, body?: string): Promise<ChainResponse | undefined> {
  const { pathname, searchParams } = new URL(url, 'http://hub.invalid');
  if (!pathname.startsWith(CHAIN_API_PREFIX)) return undefined;
  const route = pathname.slice(CHAIN_API_PREFIX.length);
  const allowed = { head: 'GET', blocks: 'GET', metagraph: 'GET', extrinsics: 'POST' }[route];
  if (!allowed)
    return error(
      404,
      'not-found',
      `no chain endpoint ${pathname}: use /api/chain/head, /api/chain/blocks?from=N, /api/chain/metagraph or POST /api/chain/extrinsics`,
    );
  if (method !== allowed) return error(405, 'method-not-allowed', `${pathname} answers ${allowed}, not ${method}`);

  switch (route) {
    case 'head': {
      const head = chain.headBlock();
      const { run, blocksPerRound, blockTimeMs, authority, validators } = chain.spec;
      return {
        status: 200,
        json: {
          run,
          height: head.height,
          hash: head.hash,
          timestamp: head.timestamp,
          round: chain.clock.roundAt(head.height),
          blocksPerRound,
          blockTimeMs,
          authority,
          validators,
        },
      };
    }
    case 'blocks': {
      // Plain decimal digits only: Number() would also take '', '0x10' and '1e1'.
      const from = /^\d{1,15}$/.test(searchParams.get('from') ?? '') ? Number(searchParams.get('from')) : NaN;
      const limit = !searchParams.has('limit')
        ? 100
        : /^\d{1,15}$/.test(searchParams.get('limit')!)
          ? Number(searchParams.get('limit'))
          : NaN;
      if (!Number.isSafeInteger(from)) return error(400, 'malformed', 'blocks needs ?from=N, a height ≥ 0 in decimal digits');
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_BLOCKS_PER_REQUEST)
        return error(400, 'malformed', `limit must be 1..${MAX_BLOCKS_PER_REQUEST}`);
      return { status: 200, json: { blocks: chain.blocks(from, limit) } };
    }
    case 'metagraph': {
      // Paged by uid so that an answer stays bounded however many identities register.
      const [from, limit] = [pageParameter(searchParams, 'from', 0), pageParameter(searchParams, 'limit', METAGRAPH_PAGE)];
      if (from === undefined) return error(400, 'malformed', 'metagraph takes ?from=UID, a uid ≥ 0 in decimal digits');
      if (limit === undefined || limit < 1 || limit > MAX_METAGRAPH_PAGE)
        return error(400, 'malformed', `metagraph's limit must be 1..${MAX_METAGRAPH_PAGE}`);
      const metagraph = await chain.metagraph();
      const page = metagraph.neurons.filter((n) => n.uid >= from).slice(0, limit + 1);
      const neurons = page.slice(0, limit).map(({ uid, hotkey, registeredAt, binding }) => ({
        uid,
        hotkey,
        registeredAt,
        bindingId: binding.id,
        binding: { binding: binding.binding, signature: binding.signature, peerSignature: binding.peerSignature },
      }));
      return { status: 200, json: { ...metagraph, neurons, next: page[limit]?.uid ?? null } };
    }
    default: {
      if (body === undefined || body.length === 0) return error(400, 'malformed', 'POST /api/chain/extrinsics needs a JSON body {call, …}');
      if (body.length > 2 * MAX_EXTRINSIC_BYTES)
        return error(413, 'oversized', `the body is over ${2 * MAX_EXTRINSIC_BYTES} bytes; an extrinsic is at most ${MAX_EXTRINSIC_BYTES}`);
      let extrinsic: unknown;
      try {
        extrinsic = JSON.parse(body);
      } catch (parseError) {
        return error(400, 'malformed', `the body is not JSON: ${(parseError as Error).message}`);
      }
      try {
        return { status: 200, json: await chain.submit(extrinsic) };
      } catch (submitError) {
        if (!(submitError instanceof ChainError)) throw submitError;
        return error(
          submitError.code === 'stopped' ? 503 : submitError.code === 'oversized' ? 413 : 400,
          submitError.code,
          submitError.message,
        );
      }
    }
  }
}

/**
 * A node:http handler for the chain API: answers and returns true for /api/chain/… requests,
 * returns false (and leaves `res` alone) for any other path.
 */
export function chainRoutes(chain: DevChain): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  return async (req, res) => {
    const url = req.url ?? '/';
    if (!url.startsWith(CHAIN_API_PREFIX)) return false;
    const body = req.method === 'POST' ? await readBody(req, 2 * MAX_EXTRINSIC_BYTES) : '';
    const response =
      (await handleChainRequest(chain, req.method ?? 'GET', url, body)) ?? error(404, 'not-found', `no chain endpoint ${url}`);
    const text = JSON.stringify(response.json);
    res.writeHead(response.status, {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      // Refused before the whole body arrived (oversized): close instead of reading the rest.
      ...(req.complete ? {} : { connection: 'close' }),
    });
    res.end(text);
    return true;
  };
}

/**
 * The request's body as text, or its first `limit` + 1 bytes when it is longer (a Content-Length
 * over the limit is not read at all): handleChainRequest then refuses it as oversized. The rest
 * is left unread, not torn down, so that the refusal reaches the client.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<string> {
  if (Number(req.headers['content-length']) > limit) return Promise.resolve(' '.repeat(limit + 1));
  return new Promise((done, fail) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const finish = () => {
      req.off('data', onData).off('end', finish).off('error', fail);
      req.pause();
      done(Buffer.concat(chunks).toString('utf8'));
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      if (length > limit) finish();
    };
    req.on('data', onData).on('end', finish).on('error', fail);
  });
}
