// Members hold a hub to the run's authority and θ to the chain (issue 18): a fake hub serving a
// chain of its own is refused by `webloco peer`, `webloco validator` and `webloco audit` given
// --authority, and by a tab through the link's #authority or what it saw at the hub's origin
// before; a hub serving a checkpoint the chain does not vouch for is refused by the validator
// (participant-rules.test.ts refuses one in the round loop that `webloco peer` and a tab share).
// Each refusal says what was wrong. A proxy in front of the real hub plays the dishonest one: it
// rewrites GET /api/run, or forwards to another hub altogether.
import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as audit from '../../src/cli/audit.ts';
import { parseCommand, type CommandSpec } from '../../src/cli/args.ts';
import * as peer from '../../src/cli/peer.ts';
import * as validator from '../../src/cli/validator.ts';
import { connectPinned, type AuthorityMemory } from '../../src/client/authority.ts';
import { hashHex, initialModel } from '../../src/engine/global-model.ts';
import { startHub, type Hub } from '../../src/hub/hub.ts';
import { preset } from '../../src/model/config.ts';
import { parameterLayout } from '../../src/model/layout.ts';
import type { RunInfo } from '../../src/run/api.ts';
import { UntrustedCheckpointError } from '../../src/run/follow.ts';
import { WrongAuthorityError } from '../../src/run/hub-client.ts';
import { encodeCheckpoint, MODEL_FILE } from '../../src/train/checkpoint.ts';

const RUN_ID = 'pinning-test';
// The whole test in round 0 (no decision, so no object expires) and a cheap proof of work: what is
// under test is whom a member believes.
const RUN = { blocksPerRound: 10_000, blockTimeMs: 100, bindingWorkBits: 8 };

let real: Hub;
let fake: Hub;
let proxy: Server;
let proxyUrl: string;
/** Where the proxy forwards, and how it rewrites the run it reports. */
let target: () => Hub;
let rewrite: (info: RunInfo) => RunInfo = (info) => info;

function tempDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `webloco-${name}-`));
}

beforeAll(async () => {
  const app = tempDir('app');
  mkdirSync(app, { recursive: true });
  writeFileSync(join(app, 'index.html'), '<!doctype html><title>WebLoCo</title>');
  // The real run, and a fake hub with a chain of its own under the same run id.
  const hub = (name: string) => startHub({ port: 0, dataDir: tempDir(`hub-${name}`), appDir: app, runId: RUN_ID, run: RUN });
  [real, fake] = await Promise.all([hub('real'), hub('fake')]);
  target = () => real;
  proxy = createServer((req, res) => {
    void (async () => {
      const body = req.method === 'POST' ? Buffer.concat(await req.toArray()) : undefined;
      const upstream = await fetch(new URL(req.url!, target().http), {
        method: req.method,
        body,
        headers: { 'content-type': 'application/json' },
      });
      let bytes = Buffer.from(await upstream.arrayBuffer());
      if (req.url === '/api/run') bytes = Buffer.from(JSON.stringify(rewrite(JSON.parse(bytes.toString()) as RunInfo)));
      res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/octet-stream' }).end(bytes);
    })().catch(() => res.writeHead(502).end());
  });
  await new Promise<void>((listening) => proxy.listen(0, '127.0.0.1', listening));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
}, 120_000);

afterAll(async () => {
  proxy?.close();
  await Promise.all([real?.stop(), fake?.stop()]);
});

/** A command's run() with the argv a user would type. */
function runCommand(module: { command: CommandSpec; run: (args: never) => Promise<void> }, argv: string[]): Promise<void> {
  const values = parseCommand(module.command, argv);
  if (values === 'help') throw new Error('unexpected --help');
  return module.run(values as never);
}

/** The proxy reports a checkpoint of the real run's round that holds another θ (the run's seed + 1), put in the real hub's store. */
async function serveWrongCheckpoint(): Promise<void> {
  const config = preset('tiny');
  const theta = initialModel(parameterLayout(config), real.settings.seed + 1);
  const model = encodeCheckpoint({ config, params: theta.theta, step: 0, modelHash: hashHex(theta) })[MODEL_FILE]!;
  const objectHash = await real.store.put(model);
  rewrite = (info) => ({
    ...info,
    checkpoint: { round: info.checkpoint!.round, objectHash, modelHash: hashHex(theta), bytes: model.length },
  });
}

describe('members pin the run', () => {
  const authority = () => real.chain!.authority.address;

  it('webloco peer, validator and audit refuse a hub serving a chain of its own', async () => {
    const argv = ['--hub', fake.http, '--authority', authority()];
    const refusal = new RegExp(
      `serves a chain sealed by ${fake.chain!.authority.address}, but --authority pins the run's authority ${authority()}`,
    );
    for (const [command, extra] of [
      [peer, []],
      [validator, []],
      [audit, ['--round', '0']],
    ] as const) {
      const run = runCommand(command, [...argv, ...extra]);
      await expect(run).rejects.toThrow(WrongAuthorityError);
      await expect(run).rejects.toThrow(refusal);
    }
  });

  it("a tab holds the hub to its link's #authority, else to what it saw at that origin first", async () => {
    const remembered = new Map<string, string>();
    const memory: AuthorityMemory = {
      authority: async (origin) => remembered.get(origin),
      rememberAuthority: async (origin, address) => void remembered.set(origin, address),
    };
    target = () => real;
    const first = await connectPinned(proxyUrl, { memory });
    first.chain.close();
    expect(remembered.get(new URL(proxyUrl).origin)).toBe(authority());
    // The hub at that origin is replaced by one with a chain of its own.
    target = () => fake;
    try {
      await expect(connectPinned(proxyUrl, { memory })).rejects.toThrow(/what this browser saw at http:\/\/127\.0\.0\.1:\d+ before/);
      await expect(connectPinned(proxyUrl, { memory, fragment: authority() })).rejects.toThrow(/the page's link \(#authority=…\) pins/);
      // The link names the new authority: the user accepts the new run, and the browser remembers it.
      const accepted = await connectPinned(proxyUrl, { memory, fragment: fake.chain!.authority.address });
      accepted.chain.close();
      expect(remembered.get(new URL(proxyUrl).origin)).toBe(fake.chain!.authority.address);
    } finally {
      target = () => real;
    }
  });

  it('webloco validator refuses a checkpoint that the chain does not vouch for', async () => {
    await serveWrongCheckpoint();
    try {
      const run = runCommand(validator, ['--hub', proxyUrl, '--authority', authority()]);
      await expect(run).rejects.toThrow(UntrustedCheckpointError);
      await expect(run).rejects.toThrow(/the hub's checkpoint of round 0 holds model [0-9a-f]{64}, but θ_0 of the run's seed hashes to/);
    } finally {
      rewrite = (info) => info;
    }
  });
});
