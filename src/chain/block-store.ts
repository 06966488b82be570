// The dev chain's blocks on disk: SQLite through node:sqlite (Node 22, no native addon), WAL
// journal with synchronous=FULL, one transaction per block. A block is announced only after its
// transaction committed, so a process killed at any instant keeps every block it announced.
// The database is opened in exclusive locking mode: a second process on the same data dir would
// fork the chain, so it is refused. Node only (the browser verifies blocks served over HTTP).
import { errorMessage } from '../base/errors.ts';
import { chmodSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import type { Block } from './block.ts';

export class BlockStore {
  readonly path: string;
  readonly #db: DatabaseSync;
  readonly #insertBlock;

  constructor(path: string) {
    this.path = path;
    this.#db = new DatabaseSync(path);
    try {
      this.#db.exec('PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;');
      // Take the write lock now, so a second process fails here rather than at its first block.
      this.#db.exec('BEGIN IMMEDIATE; COMMIT;');
    } catch (error) {
      this.#db.close();
      const message = errorMessage(error);
      if (/locked|busy/i.test(message))
        throw new Error(`The chain database ${path} is in use by another process (${message}): run one dev chain per data directory`, {
          cause: error,
        });
      throw error;
    }
    chmodSync(path, 0o600); // SQLite gives the -wal and -shm files the database's mode
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS blocks (height INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE, block TEXT NOT NULL);
    `);
    this.#insertBlock = this.#db.prepare('INSERT INTO blocks (height, hash, block) VALUES (?, ?, ?)');
  }

  meta(key: string): string | undefined {
    const row = this.#db.prepare('SELECT value FROM meta WHERE key = ?').get(key);
    return row ? String(row.value) : undefined;
  }

  /** Deletes a meta entry so that no copy of its value stays on disk (zeroed pages, the WAL checkpointed and truncated). */
  forgetMeta(key: string): void {
    this.#db.exec('PRAGMA secure_delete = ON');
    this.#db.prepare('DELETE FROM meta WHERE key = ?').run(key);
    this.#db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  }

  /** Stores `block` in one transaction; returns once it is durable. */
  append(block: Block): void {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      this.#insertBlock.run(block.height, block.hash, JSON.stringify(block));
      this.#db.exec('COMMIT');
    } catch (error) {
      this.#db.exec('ROLLBACK');
      throw error;
    }
  }

  last(): Block | undefined {
    const row = this.#db.prepare('SELECT block FROM blocks ORDER BY height DESC LIMIT 1').get();
    return row ? (JSON.parse(String(row.block)) as Block) : undefined;
  }

  /** Up to `limit` blocks from height `from` on, in order. */
  blocks(from: number, limit: number): Block[] {
    return this.#db
      .prepare('SELECT block FROM blocks WHERE height >= ? ORDER BY height LIMIT ?')
      .all(from, limit)
      .map((row) => JSON.parse(String(row.block)) as Block);
  }

  /** Every block from genesis on, one at a time. */
  *all(): Generator<Block> {
    for (const row of this.#db.prepare('SELECT block FROM blocks ORDER BY height').iterate()) yield JSON.parse(String(row.block)) as Block;
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}
