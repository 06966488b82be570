// The authority's seed, the dev chain's one secret, is readable by the hub's owner only: it lives
// in `authority-key` (0600) in a data dir made 0700, never in chain.sqlite (0600 too); a
// chain.sqlite made before holds it in its meta table, and opening it moves the seed out and
// leaves no copy of it in the database file.
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { u8aToHex } from '@polkadot/util';
import { afterAll, expect, it } from 'vitest';
import { DevChain } from '../../src/chain/dev-chain.ts';
import { RUN, untilHeight } from './fixture.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'webloco-chain-keys-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const mode = (path: string) => statSync(path).mode & 0o777;
const keyFile = join(dataDir, 'authority-key');
const database = join(dataDir, 'chain.sqlite');

it('keeps the authority seed in its own 0600 file in a 0700 data dir, and moves it out of an older chain.sqlite', async () => {
  chmodSync(dataDir, 0o755); // as mkdtemp or a user's mkdir may leave it
  const chain = await DevChain.open({ dataDir, run: RUN, blocksPerRound: 4, blockTimeMs: 50 });
  const seed = u8aToHex(chain.authority.seed);
  const authority = chain.authority.address;
  chain.start();
  await untilHeight(chain, 2);
  chain.close();
  expect(mode(dataDir)).toBe(0o700);
  expect(mode(keyFile)).toBe(0o600);
  expect(mode(database)).toBe(0o600);
  expect(readFileSync(keyFile, 'utf8').trim()).toBe(seed);
  expect(readFileSync(database).includes(seed)).toBe(false);

  // A data dir as an older version left it: the seed in chain.sqlite's meta table, world-readable, no key file.
  const old = new DatabaseSync(database);
  old.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('authoritySeed', seed);
  old.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  old.close();
  unlinkSync(keyFile);
  chmodSync(database, 0o644);
  chmodSync(dataDir, 0o755);
  expect(readFileSync(database).includes(seed)).toBe(true);

  const reopened = await DevChain.open({ dataDir, run: RUN });
  try {
    expect(reopened.authority.address).toBe(authority);
    expect([mode(dataDir), mode(keyFile), mode(database)]).toEqual([0o700, 0o600, 0o600]);
    expect(readFileSync(keyFile, 'utf8').trim()).toBe(seed);
    const before = reopened.headBlock().height;
    reopened.start();
    await untilHeight(reopened, before + 1); // it still seals blocks with the moved key
  } finally {
    reopened.close();
  }
  const check = new DatabaseSync(database);
  expect(check.prepare('SELECT count(*) AS n FROM meta WHERE key = ?').get('authoritySeed')).toEqual({ n: 0 });
  check.close();
  // Neither the database nor its journal keeps a copy of the seed (secure_delete, WAL truncated).
  for (const file of [database, `${database}-wal`]) expect(readFileSync(file, { flag: 'a+' }).includes(seed), file).toBe(false);
});
