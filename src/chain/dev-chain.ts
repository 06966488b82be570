// The embedded dev chain, the default chain of a hub: one authority seals a block every
// blockTimeMs (1 s by default) holding the extrinsics submitted since the last one. Blocks are
// hash-chained, signed, stored in SQLite (block-store.ts) and only then announced; on restart the
// chain replays its stored blocks through the same state transition every verifier runs
// (state.ts) and continues from the last one. The authority's seed is the one secret: it lives in
// its own file, `authority-key` (0600, in a data directory made 0700), never in chain.sqlite; a
// chain.sqlite that still holds it (made before) has it moved out on open. Node only; serve it
// with routes.ts.
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../base/errors.ts';
import { writeFileAtomically } from '../base/files.ts';
import { printable } from '../base/log-text.ts';
import { hexToU8a, u8aToHex } from '@polkadot/util';
import type { SignedAnnouncement } from '../identity/announcement.ts';
import type { SignedBinding, VerifiedBinding } from '../identity/binding.ts';
import { canonicalJson } from '../identity/canonical.ts';
import type { Hex } from '../identity/fields.ts';
import { cryptoReady, SigningKey } from '../identity/keys.ts';
import { extrinsicsRoot, headerHash, sealBlock, type Block } from './block.ts';
import { BlockStore } from './block-store.ts';
import type { BindingRules, Chain, ChainHead, Inclusion, Metagraph } from './chain.ts';
import {
  ChainError,
  DEFAULT_BINDING_AGE_ROUNDS,
  DEFAULT_BINDING_WORK_BITS,
  GENESIS_KIND,
  parseGenesisSpec,
  type GenesisSpec,
  type SignedDecision,
  type SignedWeights,
} from './extrinsics.ts';
import type { RoundClock } from './round-clock.ts';
import { ChainState, type BlockContext } from './state.ts';

export interface DevChainOptions {
  /** Directory for chain.sqlite; created if missing. Reopening it continues the chain. */
  dataDir: string;
  run: string;
  /** Used when the chain is created; on reopen must match genesis if given. Default 60. */
  blocksPerRound?: number;
  /** Default 1000. */
  blockTimeMs?: number;
  /** Validators' SS58 addresses; default the authority alone (the hub signs decisions with it). */
  validators?: string[];
  /** Proof-of-work bits a binding's id needs (DEFAULT_BINDING_WORK_BITS); fixed when the chain is created, a reopen keeps the genesis's. */
  bindingWorkBits?: number;
  /** Rounds before a new binding's commits count (DEFAULT_BINDING_AGE_ROUNDS); fixed when the chain is created, like bindingWorkBits. */
  bindingAgeRounds?: number;
  /** The clock blocks are stamped with (ms); Date.now by default. */
  now?: () => number;
  /** Called if a block cannot be stored: the chain stops producing. Default console.error. */
  onFailure?: (error: Error) => void;
}

const DEFAULT_BLOCKS_PER_ROUND = 60;
const DEFAULT_BLOCK_TIME_MS = 1000;
/** The authority's seed, 0x-hex, in the data directory: readable by the owner only. */
const AUTHORITY_KEY_FILE = 'authority-key';
/** Submissions waiting for the next block, in JSON characters. */
const MAX_POOL_BYTES = 4 * 1024 * 1024;

interface Pending {
  extrinsic: unknown;
  bytes: number;
  resolve: (inclusion: Inclusion) => void;
  reject: (error: Error) => void;
}

export class DevChain implements Chain {
  readonly spec: GenesisSpec;
  readonly clock: RoundClock;
  /** The key that seals blocks; also the default validator's key. */
  readonly authority: SigningKey;
  readonly #store: BlockStore;
  readonly #state: ChainState;
  readonly #now: () => number;
  readonly #onFailure: (error: Error) => void;
  readonly #listeners = new Set<(block: Block) => void>();
  #head: Block;
  /** The state plus every pooled extrinsic: submissions are checked against it. */
  #pending: ChainState;
  #pool: Pending[] = [];
  #poolBytes = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped: ChainError | undefined;

  private constructor(store: BlockStore, authority: SigningKey, state: ChainState, head: Block, options: DevChainOptions) {
    this.#store = store;
    this.authority = authority;
    this.#state = state;
    this.spec = state.spec;
    this.clock = state.clock;
    this.#head = head;
    this.#pending = state.fork();
    this.#now = options.now ?? Date.now;
    this.#onFailure = options.onFailure ?? ((error) => console.error(error));
  }

  /** Opens (or creates) the chain in `options.dataDir`. Call start() to produce blocks. */
  static async open(options: DevChainOptions): Promise<DevChain> {
    await cryptoReady();
    // The directory holds the authority's key: the owner's alone, whoever created it.
    mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    chmodSync(options.dataDir, 0o700);
    const store = new BlockStore(join(options.dataDir, 'chain.sqlite'));
    try {
      const authority = await loadAuthority(options.dataDir, store);
      if (!store.last()) {
        const key = authority ?? SigningKey.generate('sr25519');
        // The key is on disk before the genesis block names it: a chain is never left without its key.
        if (!authority) await writeFileAtomically(join(options.dataDir, AUTHORITY_KEY_FILE), `${u8aToHex(key.seed)}\n`, { mode: 0o600 });
        const spec = parseGenesisSpec({
          kind: GENESIS_KIND,
          run: options.run,
          blocksPerRound: options.blocksPerRound ?? DEFAULT_BLOCKS_PER_ROUND,
          blockTimeMs: options.blockTimeMs ?? DEFAULT_BLOCK_TIME_MS,
          authority: key.address,
          validators: options.validators ?? [key.address],
          bindingWorkBits: options.bindingWorkBits ?? DEFAULT_BINDING_WORK_BITS,
          bindingAgeRounds: options.bindingAgeRounds ?? DEFAULT_BINDING_AGE_ROUNDS,
        });
        const genesis = sealBlock(key, undefined, (options.now ?? Date.now)(), [{ call: 'genesis', spec }]);
        store.append(genesis);
        return new DevChain(store, key, new ChainState(spec), genesis, options);
      }
      if (!authority)
        throw new Error(
          `${store.path} holds blocks but ${join(options.dataDir, AUTHORITY_KEY_FILE)} is missing: restore the authority's key from a backup`,
        );
      const { state, head } = replay(store, authority);
      const { spec } = state;
      const mismatch = (field: string, stored: unknown, asked: unknown) =>
        new Error(
          `The chain in ${options.dataDir} has ${field} ${JSON.stringify(stored)}, not ${JSON.stringify(asked)}: use another data directory for another chain`,
        );
      if (spec.run !== options.run) throw mismatch('run', spec.run, options.run);
      if (options.blocksPerRound !== undefined && options.blocksPerRound !== spec.blocksPerRound)
        throw mismatch('blocksPerRound', spec.blocksPerRound, options.blocksPerRound);
      if (options.blockTimeMs !== undefined && options.blockTimeMs !== spec.blockTimeMs)
        throw mismatch('blockTimeMs', spec.blockTimeMs, options.blockTimeMs);
      if (options.validators !== undefined && canonicalJson(options.validators) !== canonicalJson(spec.validators))
        throw mismatch('validators', spec.validators, options.validators);
      return new DevChain(store, authority, state, head, options);
    } catch (error) {
      store.close();
      throw error;
    }
  }

  get run(): string {
    return this.spec.run;
  }

  /** Starts sealing a block every blockTimeMs. */
  start(): void {
    if (this.#stopped) throw this.#stopped;
    if (this.#timer === undefined) this.#schedule();
  }

  /** Stops producing, refuses what is pooled, and closes the database. */
  close(): void {
    this.#stop(new ChainError('stopped', 'the dev chain was closed'));
    this.#store.close();
  }

  headBlock(): Block {
    return this.#head;
  }

  async head(): Promise<ChainHead> {
    const { height, hash, timestamp } = this.#head;
    return { height, hash, timestamp };
  }

  /** Up to `limit` stored blocks from height `from`. */
  blocks(from: number, limit = 100): Block[] {
    return this.#store.blocks(from, limit);
  }

  /** Called with each block once it is stored; returns the function that stops it. */
  onBlock(listener: (block: Block) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  onHead(listener: (head: ChainHead) => void): () => void {
    return this.onBlock(({ height, hash, timestamp }) => listener({ height, hash, timestamp }));
  }

  /**
   * Checks an untrusted extrinsic against the state and everything already pooled, and pools it
   * for the next block. Rejects with a ChainError at once if it is refused.
   */
  async submit(value: unknown): Promise<Inclusion> {
    if (this.#stopped) throw this.#stopped;
    let text: string | undefined;
    try {
      text = JSON.stringify(value);
    } catch {
      // a cycle or a BigInt: refused below
    }
    if (text === undefined) throw new ChainError('malformed', 'an extrinsic must be a JSON value');
    const extrinsic: unknown = JSON.parse(text); // a private copy: the caller may change its object later
    const bytes = text.length;
    if (this.#poolBytes + bytes > MAX_POOL_BYTES) {
      throw new ChainError(
        'oversized',
        `the next block is full (${this.#poolBytes} bytes of extrinsics waiting): submit again after block ${this.#head.height + 1}`,
      );
    }
    this.#pending.apply(extrinsic, this.#nextBlockContext());
    this.#poolBytes += bytes;
    return new Promise((resolve, reject) => this.#pool.push({ extrinsic, bytes, resolve, reject }));
  }

  register(binding: SignedBinding): Promise<Inclusion> {
    return this.submit({ call: 'register', binding });
  }

  commit(announcement: SignedAnnouncement): Promise<Inclusion> {
    return this.submit({ call: 'commit', commit: announcement });
  }

  decide(decision: SignedDecision): Promise<Inclusion> {
    return this.submit({ call: 'decision', decision });
  }

  setWeights(weights: SignedWeights): Promise<Inclusion> {
    return this.submit({ call: 'weights', weights });
  }

  async commits(round: number): Promise<SignedAnnouncement[]> {
    return this.#state.commits(round);
  }

  async decision(round: number): Promise<SignedDecision | undefined> {
    return this.#state.decision(round);
  }

  async binding(id: Hex): Promise<VerifiedBinding | undefined> {
    return this.#state.binding(id);
  }

  get bindingRules(): BindingRules {
    return { workBits: this.spec.bindingWorkBits, ageRounds: this.spec.bindingAgeRounds };
  }

  async firstCommitRound(binding: Hex): Promise<number | undefined> {
    return this.#state.firstCommitRound(binding);
  }

  async nextNonce(signer: { binding: Hex } | { validator: string }): Promise<number> {
    return this.#state.nextNonce(signer);
  }

  async metagraph(): Promise<Metagraph> {
    return {
      run: this.spec.run,
      height: this.#head.height,
      neurons: this.#state.neurons(),
      validators: this.spec.validators,
      weights: this.#state.weights(),
    };
  }

  #nextBlockContext(): BlockContext {
    return { height: this.#head.height + 1, timestamp: Math.max(this.#now(), this.#head.timestamp + 1) };
  }

  #schedule(): void {
    const due = this.#head.timestamp + this.spec.blockTimeMs;
    this.#timer = setTimeout(
      () => {
        try {
          this.#produce();
        } catch (error) {
          const failure = new ChainError(
            'stopped',
            `the dev chain stopped: block ${this.#head.height + 1} could not be made or stored (${(error as Error).message}); restart it on the same data directory to continue`,
          );
          this.#stop(failure);
          this.#onFailure(failure);
          return;
        }
        this.#schedule();
      },
      Math.max(0, due - this.#now()),
    );
  }

  /** Seals the pool into the next block, stores it, and only then resolves submissions and announces it. */
  #produce(): void {
    const at = this.#nextBlockContext();
    const working = this.#state.fork();
    const included: Pending[] = [];
    for (const item of this.#pool) {
      try {
        working.apply(item.extrinsic, at);
        included.push(item);
      } catch (error) {
        item.reject(error as Error);
      }
    }
    this.#pool = [];
    this.#poolBytes = 0;
    const block = sealBlock(
      this.authority,
      this.#head,
      at.timestamp,
      included.map((item) => item.extrinsic),
    );
    try {
      this.#store.append(block);
    } catch (error) {
      for (const item of included)
        item.reject(new ChainError('stopped', `block ${block.height} could not be stored: ${(error as Error).message}`));
      throw error;
    }
    working.merge();
    this.#head = block;
    this.#pending = this.#state.fork();
    included.forEach((item, index) => item.resolve({ height: block.height, blockHash: block.hash, index }));
    for (const listener of this.#listeners) {
      try {
        listener(block);
      } catch (error) {
        console.error(`a listener of the dev chain threw on block ${block.height} (the chain goes on): ${printable(errorMessage(error))}`);
      }
    }
  }

  #stop(reason: ChainError): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#stopped ??= reason;
    for (const item of this.#pool) item.reject(reason);
    this.#pool = [];
    this.#poolBytes = 0;
  }
}

/**
 * The authority's key from `authority-key`, moving it there first from a chain.sqlite made before
 * the key had its own file (the row is then overwritten with zeros: secure_delete). Undefined for a
 * new chain.
 */
async function loadAuthority(dataDir: string, store: BlockStore): Promise<SigningKey | undefined> {
  const path = join(dataDir, AUTHORITY_KEY_FILE);
  const fromFile = existsSync(path) ? readFileSync(path, 'utf8').trim() : undefined;
  const fromDatabase = store.meta('authoritySeed');
  if (fromDatabase !== undefined) {
    if (fromFile !== undefined && fromFile !== fromDatabase)
      throw new Error(`${path} and ${store.path} hold different authority keys: keep the one that sealed the blocks, remove the other`);
    if (fromFile === undefined) await writeFileAtomically(path, `${fromDatabase}\n`, { mode: 0o600 });
    store.forgetMeta('authoritySeed');
  }
  const seed = fromFile ?? fromDatabase;
  if (seed === undefined) return undefined;
  if (!/^0x[0-9a-f]{64}$/.test(seed))
    throw new Error(`${path} does not hold an authority seed (0x + 64 hex digits): restore it from a backup`);
  chmodSync(path, 0o600);
  return SigningKey.fromSeed(hexToU8a(seed), 'sr25519');
}

/**
 * Rebuilds the state from the stored blocks. They were sealed by this process's own key, so their
 * signatures are not re-checked (that would cost minutes on a long chain); heights, hash links,
 * hashes and extrinsic roots are, and every extrinsic is applied under the full rules.
 */
function replay(store: BlockStore, authority: SigningKey): { state: ChainState; head: Block } {
  let state: ChainState | undefined;
  let head: Block | undefined;
  for (const block of store.all()) {
    const where = `${store.path}: block ${block.height}`;
    if (block.height !== (head ? head.height + 1 : 0) || block.parentHash !== (head?.hash ?? block.parentHash))
      throw new Error(`${where} does not extend block ${head?.height}: the database is damaged`);
    if (headerHash(block) !== block.hash || extrinsicsRoot(block.extrinsics) !== block.extrinsicsRoot)
      throw new Error(`${where} does not match its hash: the database is damaged`);
    if (block.author !== authority.address)
      throw new Error(`${where} was sealed by ${block.author}, not this data directory's authority ${authority.address}`);
    if (!state) {
      const genesis = block.extrinsics[0] as { call?: string; spec?: unknown } | undefined;
      if (block.extrinsics.length !== 1 || genesis?.call !== 'genesis')
        throw new Error(`${where}: the genesis block must hold the genesis spec alone`);
      state = new ChainState(parseGenesisSpec(genesis.spec));
    } else {
      for (const extrinsic of block.extrinsics) state.apply(extrinsic, block);
    }
    head = block;
  }
  if (!state || !head) throw new Error(`${store.path} holds no genesis block: the database is damaged; remove it to start a new chain`);
  return { state, head };
}
