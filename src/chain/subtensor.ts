// The Chain interface over Subtensor (Bittensor) through @polkadot/api: a run is one subnet
// (netuid). register → SubtensorModule.burned_register (when the hotkey has no uid yet) and
// Commitments.set_commitment of the binding record; commit → set_commitment of the binding and
// the round's announcement records (subtensor/commitment.ts); setWeights → set_weights, or
// commit_weights and later revealWeights() where the subnet has commit-reveal on; the metagraph
// and commits are read from storage. Calls and storage keys come from the connected runtime's
// metadata through SubtensorRuntime (subtensor/runtime.ts, tested offline against recorded
// metadata); reads go over raw state_* RPC and are decoded there. Subtensor has no place for a
// validator's decision: decide() and decision() throw (see docs/PROTOCOL.md, "Subtensor adapter").
// Nothing in this file has run against a live Subtensor node (README.md says what has).
import { ApiPromise, WsProvider } from '@polkadot/api';
import type { Signer } from '@polkadot/api/types';
import type { KeyringPair } from '@polkadot/keyring/types';
import type { Call } from '@polkadot/types/interfaces';
import type { ISubmittableResult } from '@polkadot/types/types';
import type { SignedAnnouncement } from '../identity/announcement.ts';
import { verifyBinding, type SignedBinding, type VerifiedBinding } from '../identity/binding.ts';
import type { Hex } from '../identity/fields.ts';
import { cryptoReady } from '../identity/keys.ts';
import type { Chain, ChainHead, Inclusion, Metagraph } from './chain.ts';
import { asChainError, ChainError, parseWeights, verifyValidatorStatement, type SignedDecision, type SignedWeights } from './extrinsics.ts';
import { RoundClock } from './round-clock.ts';
import type { Neuron } from './state.ts';
import { encodeAnnouncementRecord, encodeBindingRecord, readPeerCommitment, type PeerCommitment } from './subtensor/commitment.ts';
import { SUBTENSOR_SIGNED_EXTENSIONS, SubtensorRuntime, type StorageName } from './subtensor/runtime.ts';

/** Subtensor's target block time. */
export const SUBTENSOR_BLOCK_TIME_MS = 12_000;
/** state_getKeysPaged page size. */
const KEYS_PAGE = 1000;

/**
 * An account that signs Subtensor extrinsics: a keyring pair held here (sr25519, SS58 42), or an
 * address with a wallet extension's signer (extension-dapp's injector.signer).
 */
export type SubtensorAccount = KeyringPair | { address: string; signer: Signer };

export interface SubtensorChainOptions {
  /** A Subtensor node's WebSocket endpoint, e.g. wss://entrypoint-finney.opentensor.ai:443. */
  endpoint: string;
  /** The subnet the run trains on. */
  netuid: number;
  run: string;
  /**
   * The hotkey: signs set_commitment each round and set_weights (both Pays::No). It must be the
   * bindings' hotkey. In a tab, a key the tab holds, so a round costs no wallet prompt.
   */
  hotkey: SubtensorAccount;
  /** Signs burned_register and pays the burn; the hotkey itself unless given (then it needs TAO). */
  coldkey?: SubtensorAccount;
  /** Default: the subnet's tempo + 1 (one round per epoch), read at connect. */
  blocksPerRound?: number;
  /** The run's validators (SS58). Default: the hotkeys that hold a validator permit on the subnet. */
  validators?: string[];
}

/** A commit_weights waiting for its reveal: what reveal_weights must repeat. */
interface PendingReveal {
  uids: number[];
  values: number[];
  salt: number[];
  versionKey: bigint;
}

/** The metagraph as Subtensor keeps it, uid by uid (vectors indexed by uid). */
export interface SubtensorMetagraph {
  netuid: number;
  height: number;
  hotkeys: string[];
  registeredAt: number[];
  /** TotalHotkeyAlpha(hotkey, netuid): the hotkey's stake on this subnet, in rao of its alpha. */
  stake: bigint[];
  incentive: number[];
  dividends: number[];
  consensus: number[];
  lastUpdate: number[];
  validatorPermit: boolean[];
}

export class SubtensorChain implements Chain {
  readonly run: string;
  readonly netuid: number;
  readonly clock: RoundClock;
  /** No proof of work and no waiting: registering on a subnet costs its burn (burned_register). */
  readonly bindingRules = { workBits: 0, ageRounds: 0 };
  readonly #api: ApiPromise;
  readonly #provider: WsProvider;
  readonly #hotkey: SubtensorAccount;
  readonly #coldkey: SubtensorAccount;
  readonly #validators: string[] | undefined;
  #runtime: SubtensorRuntime;
  #pendingReveal: PendingReveal | undefined;

  private constructor(api: ApiPromise, provider: WsProvider, options: SubtensorChainOptions, blocksPerRound: number) {
    this.#api = api;
    this.#provider = provider;
    this.#runtime = new SubtensorRuntime(api.registry, api.runtimeMetadata);
    this.run = options.run;
    this.netuid = options.netuid;
    this.#hotkey = options.hotkey;
    this.#coldkey = options.coldkey ?? options.hotkey;
    this.#validators = options.validators;
    this.clock = new RoundClock(blocksPerRound, SUBTENSOR_BLOCK_TIME_MS);
  }

  /** Connects, checks the runtime has what the adapter needs and that the subnet exists. */
  static async connect(options: SubtensorChainOptions): Promise<SubtensorChain> {
    await cryptoReady();
    const provider = new WsProvider(options.endpoint);
    const api = await ApiPromise.create({ provider, signedExtensions: SUBTENSOR_SIGNED_EXTENSIONS, noInitWarn: true });
    try {
      const runtime = new SubtensorRuntime(api.registry, api.runtimeMetadata);
      const n = await readStorage(provider, runtime, null, 'SubtensorModule.SubnetworkN', options.netuid);
      const tempo = (await readStorage(provider, runtime, null, 'SubtensorModule.Tempo', options.netuid))!.toJSON() as number;
      if ((n!.toJSON() as number) === 0 && tempo === 0)
        throw new Error(`Subnet ${options.netuid} does not exist on ${options.endpoint}: check the netuid`);
      return new SubtensorChain(api, provider, options, options.blocksPerRound ?? tempo + 1);
    } catch (error) {
      await api.disconnect();
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.#api.disconnect();
  }

  /** The runtime of the connected chain, rebuilt after a runtime upgrade. */
  get #current(): SubtensorRuntime {
    if (this.#runtime.metadata !== this.#api.runtimeMetadata)
      this.#runtime = new SubtensorRuntime(this.#api.registry, this.#api.runtimeMetadata);
    return this.#runtime;
  }

  #read(at: Hex | null, name: StorageName, ...args: unknown[]) {
    return readStorage(this.#provider, this.#current, at, name, ...args);
  }

  async head(): Promise<ChainHead> {
    const hash = await this.#provider.send<Hex>('chain_getFinalizedHead', []);
    return this.#headAt(hash);
  }

  async #headAt(hash: Hex): Promise<ChainHead> {
    const header = await this.#provider.send<{ number: Hex }>('chain_getHeader', [hash]);
    const timestamp = (await this.#read(hash, 'Timestamp.Now'))!.toString();
    return { height: Number.parseInt(header.number, 16), hash, timestamp: Number(timestamp) };
  }

  onHead(listener: (head: ChainHead) => void): () => void {
    let stop: (() => void) | undefined;
    let stopped = false;
    void this.#api.rpc.chain
      .subscribeFinalizedHeads((header) => {
        this.#headAt(header.hash.toHex()).then(listener, (error: unknown) =>
          console.error('SubtensorChain: reading a finalized head failed:', error),
        );
      })
      .then((unsubscribe) => (stopped ? unsubscribe() : (stop = unsubscribe)));
    return () => {
      stopped = true;
      stop?.();
    };
  }

  /**
   * Registers the hotkey on the subnet if it has no uid yet (burned_register, signed by the
   * coldkey), then stores the binding as the hotkey's commitment (its announcement field cleared).
   */
  async register(signed: SignedBinding): Promise<Inclusion> {
    const head = await this.head();
    const verified = asChainError(() => verifyBinding(signed, { run: this.run, now: head.timestamp }));
    this.#checkHotkey(verified.binding.hotkey);
    const uid = await this.#read(head.hash, 'SubtensorModule.Uids', this.netuid, verified.binding.hotkey);
    if (uid === undefined)
      await this.#submit('burned_register', this.#current.burnedRegister(this.netuid, verified.binding.hotkey), this.#coldkey);
    return this.#submit('set_commitment', this.#current.setCommitment(this.netuid, [encodeBindingRecord(signed)]), this.#hotkey);
  }

  /** Stores the binding already on chain together with this announcement as the hotkey's commitment. */
  async commit(announcement: SignedAnnouncement): Promise<Inclusion> {
    const head = await this.head();
    const hotkey = this.#hotkey.address;
    const current = await this.#peerCommitment(head, hotkey);
    if (current?.binding.id !== announcement.announcement.binding) {
      throw new ChainError(
        'not-registered',
        `the announcement's binding ${announcement.announcement.binding} is not the one ${hotkey} has committed on subnet ${this.netuid}: register it first`,
      );
    }
    const round = this.clock.roundAt(head.height + 1);
    if (announcement.announcement.round !== round)
      throw new ChainError(
        'wrong-round',
        `the announcement is for round ${announcement.announcement.round}; the next block is in round ${round}`,
      );
    const fields = [encodeBindingRecord(current.binding), encodeAnnouncementRecord(announcement)];
    readPeerCommitment(fields, { run: this.run, hotkey, now: head.timestamp }); // refuse what every reader would refuse
    if (current.announcement && announcement.announcement.nonce <= current.announcement.announcement.nonce) {
      throw new ChainError(
        'wrong-nonce',
        `nonce ${announcement.announcement.nonce} is not above the committed ${current.announcement.announcement.nonce}`,
      );
    }
    return this.#submit('set_commitment', this.#current.setCommitment(this.netuid, fields), this.#hotkey);
  }

  decide(_decision: SignedDecision): Promise<Inclusion> {
    return Promise.reject(noDecisions());
  }

  decision(_round: number): Promise<SignedDecision | undefined> {
    return Promise.reject(noDecisions());
  }

  /**
   * Sets the validator's weights on the subnet: set_weights(uids, weights, WeightsVersionKey), or,
   * where the subnet has commit-reveal on, commit_weights of their hash (call revealWeights() once
   * the reveal epoch has come). The statement must be signed by this chain's hotkey.
   */
  async setWeights(signed: SignedWeights): Promise<Inclusion> {
    const { statement } = verifyValidatorStatement(signed, 'weights', parseWeights);
    if (statement.run !== this.run) throw new ChainError('wrong-run', `signed for run '${statement.run}', this chain is run '${this.run}'`);
    this.#checkHotkey(statement.validator);
    const head = await this.head();
    const uids: number[] = [];
    for (const { hotkey } of statement.weights) {
      const uid = await this.#read(head.hash, 'SubtensorModule.Uids', this.netuid, hotkey);
      if (uid === undefined) throw new ChainError('not-registered', `${hotkey} has no uid on subnet ${this.netuid}`);
      uids.push(uid.toJSON() as number);
    }
    const values = statement.weights.map((w) => w.weight);
    const versionKey = BigInt((await this.#read(head.hash, 'SubtensorModule.WeightsVersionKey', this.netuid))!.toString());
    const commitReveal = (await this.#read(head.hash, 'SubtensorModule.CommitRevealWeightsEnabled', this.netuid))!.toJSON() === true;
    if (!commitReveal) return this.#submit('set_weights', this.#current.setWeights(this.netuid, uids, values, versionKey), this.#hotkey);
    const salt = Array.from(crypto.getRandomValues(new Uint16Array(8)));
    const hash = this.#current.weightsCommitHash(this.#hotkey.address, this.netuid, uids, values, salt, versionKey);
    const inclusion = await this.#submit('commit_weights', this.#current.commitWeights(this.netuid, hash), this.#hotkey);
    this.#pendingReveal = { uids, values, salt, versionKey };
    return inclusion;
  }

  /** Reveals the last committed weights (reveal_weights); the chain refuses before the reveal epoch. */
  async revealWeights(): Promise<Inclusion> {
    const pending = this.#pendingReveal;
    if (!pending) throw new ChainError('malformed', 'no committed weights are waiting to be revealed: setWeights commits them first');
    const inclusion = await this.#submit(
      'reveal_weights',
      this.#current.revealWeights(this.netuid, pending.uids, pending.values, pending.salt, pending.versionKey),
      this.#hotkey,
    );
    this.#pendingReveal = undefined;
    return inclusion;
  }

  /**
   * The round's commits, read from the state at its last block (or the head, while it runs): each
   * hotkey's commitment whose announcement is for this round and was set in a block of this
   * round. A commitment holds one announcement, so a round is readable only until each hotkey's
   * next commit, and past rounds need a node that keeps old state (an archive node). Ordered by
   * the block they were set in, then by hotkey (within a block the extrinsic order is not read).
   */
  async commits(round: number): Promise<SignedAnnouncement[]> {
    const head = await this.head();
    const last = this.clock.lastBlock(round);
    const at = last >= head.height ? head : await this.#headAt(await this.#provider.send<Hex>('chain_getBlockHash', [last]));
    const found: { block: number; hotkey: string; announcement: SignedAnnouncement }[] = [];
    for (const { hotkey, block, commitment } of await this.#allPeerCommitments(at)) {
      const a = commitment.announcement;
      if (a && a.announcement.round === round && this.clock.roundAt(block) === round) found.push({ block, hotkey, announcement: a });
    }
    found.sort((x, y) => x.block - y.block || (x.hotkey < y.hotkey ? -1 : x.hotkey > y.hotkey ? 1 : 0));
    return found.map((f) => f.announcement);
  }

  /** A binding that is some hotkey's current commitment on the subnet (older ones are not in state). */
  async binding(id: Hex): Promise<VerifiedBinding | undefined> {
    const head = await this.head();
    return (await this.#allPeerCommitments(head)).find((c) => c.commitment.binding.id === id)?.commitment.binding;
  }

  /** Round 0 for any binding the subnet holds: Subtensor's registration burn stands in for an age. */
  async firstCommitRound(binding: Hex): Promise<number | undefined> {
    return (await this.binding(binding)) ? 0 : undefined;
  }

  /**
   * For a binding: one above the nonce of its committed announcement (0 if none). For a validator:
   * always 0, as Subtensor keeps no WebLoCo nonce for weights (the extrinsic's account nonce
   * prevents replays).
   */
  async nextNonce(signer: { binding: Hex } | { validator: string }): Promise<number> {
    if (!('binding' in signer)) return 0;
    const head = await this.head();
    const found = (await this.#allPeerCommitments(head)).find((c) => c.commitment.binding.id === signer.binding);
    const last = found?.commitment.announcement?.announcement.nonce;
    return last === undefined ? 0 : last + 1;
  }

  /**
   * The subnet's neurons that have committed a valid binding for this run, the run's validators,
   * and no weights: Subtensor stores weights as (uid, u16) rows signed by the extrinsic, not as
   * WebLoCo SignedWeights (read them, with stake and incentive, from subtensorMetagraph()).
   */
  async metagraph(): Promise<Metagraph> {
    const head = await this.head();
    const graph = await this.subtensorMetagraph(head);
    const commitments = new Map((await this.#allPeerCommitments(head)).map((c) => [c.hotkey, c.commitment]));
    const neurons: Neuron[] = [];
    graph.hotkeys.forEach((hotkey, uid) => {
      const binding = commitments.get(hotkey)?.binding;
      if (binding) neurons.push({ uid, hotkey, binding, registeredAt: graph.registeredAt[uid]! });
    });
    const validators = this.#validators ?? graph.hotkeys.filter((_, uid) => graph.validatorPermit[uid]);
    return { run: this.run, height: head.height, neurons, validators, weights: [] };
  }

  /** Subtensor's own view of the subnet at `at` (default the finalized head). */
  async subtensorMetagraph(at?: ChainHead): Promise<SubtensorMetagraph> {
    const head = at ?? (await this.head());
    const read = (name: StorageName, ...args: unknown[]) => this.#read(head.hash, name, ...args);
    const n = (await read('SubtensorModule.SubnetworkN', this.netuid))!.toJSON() as number;
    const hotkeys: string[] = [];
    const registeredAt: number[] = [];
    const stake: bigint[] = [];
    for (let uid = 0; uid < n; uid++) {
      const hotkey = this.#current.address((await read('SubtensorModule.Keys', this.netuid, uid))!);
      hotkeys.push(hotkey);
      registeredAt.push((await read('SubtensorModule.BlockAtRegistration', this.netuid, uid))!.toJSON() as number);
      stake.push(BigInt((await read('SubtensorModule.TotalHotkeyAlpha', hotkey, this.netuid))!.toString()));
    }
    // Incentive and LastUpdate are keyed by the mechanism storage index, which is the netuid for the main mechanism.
    const vector = async <T>(name: StorageName) => (await read(name, this.netuid))!.toJSON() as T[];
    return {
      netuid: this.netuid,
      height: head.height,
      hotkeys,
      registeredAt,
      stake,
      incentive: await vector<number>('SubtensorModule.Incentive'),
      dividends: await vector<number>('SubtensorModule.Dividends'),
      consensus: await vector<number>('SubtensorModule.Consensus'),
      lastUpdate: await vector<number>('SubtensorModule.LastUpdate'),
      validatorPermit: await vector<boolean>('SubtensorModule.ValidatorPermit'),
    };
  }

  #checkHotkey(address: string): void {
    if (address !== this.#hotkey.address) {
      throw new ChainError(
        'bad-address',
        `this is signed for ${address}, but this SubtensorChain signs as the hotkey ${this.#hotkey.address}: connect with that hotkey`,
      );
    }
  }

  async #peerCommitment(head: ChainHead, hotkey: string): Promise<PeerCommitment | undefined> {
    const stored = this.#current.commitment(
      await this.#provider.send<Hex | null>('state_getStorage', [
        this.#current.key('Commitments.CommitmentOf', this.netuid, hotkey),
        head.hash,
      ]),
    );
    if (!stored) return undefined;
    try {
      return readPeerCommitment(stored.fields, { run: this.run, hotkey, now: head.timestamp });
    } catch {
      return undefined; // not a valid WebLoCo commitment of this run
    }
  }

  /** Every hotkey's valid WebLoCo commitment on the subnet at `head`; others are skipped. */
  async #allPeerCommitments(head: ChainHead): Promise<{ hotkey: string; block: number; commitment: PeerCommitment }[]> {
    const runtime = this.#current;
    const prefix = runtime.keyPrefix('Commitments.CommitmentOf', this.netuid);
    const keys: Hex[] = [];
    for (;;) {
      const page = await this.#provider.send<Hex[]>('state_getKeysPaged', [prefix, KEYS_PAGE, keys.at(-1) ?? null, head.hash]);
      keys.push(...page);
      if (page.length < KEYS_PAGE) break;
    }
    if (keys.length === 0) return [];
    const [changes] = await this.#provider.send<{ changes: [Hex, Hex | null][] }[]>('state_queryStorageAt', [keys, head.hash]);
    const out: { hotkey: string; block: number; commitment: PeerCommitment }[] = [];
    for (const [key, value] of changes?.changes ?? []) {
      const stored = runtime.commitment(value);
      if (!stored) continue;
      const hotkey = runtime.hotkeyOfCommitmentKey(key);
      try {
        out.push({
          hotkey,
          block: stored.block,
          commitment: readPeerCommitment(stored.fields, { run: this.run, hotkey, now: head.timestamp }),
        });
      } catch {
        // another program's commitment on this subnet, another run's, or an expired binding
      }
    }
    return out;
  }

  /** Signs and sends `call` as `account`; resolves when its block is finalized, or rejects with ChainError('refused'). */
  #submit(what: string, call: Call, account: SubtensorAccount): Promise<Inclusion> {
    const extrinsic = this.#api.tx(call);
    return new Promise<Inclusion>((resolve, reject) => {
      let unsubscribe: (() => void) | undefined;
      let settled = false;
      const settle = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        unsubscribe?.();
        outcome();
      };
      const onStatus = (result: ISubmittableResult) => {
        const { status, dispatchError, txIndex } = result;
        if (status.isInvalid || status.isDropped || status.isUsurped || status.isFinalityTimeout) {
          settle(() =>
            reject(new ChainError('refused', `Subtensor's transaction pool reports the ${what} extrinsic ${status.type}: submit it again`)),
          );
          return;
        }
        if (!status.isFinalized) return;
        const blockHash = status.asFinalized.toHex();
        if (dispatchError) {
          let reason = dispatchError.toString();
          if (dispatchError.isModule) {
            const meta = this.#api.registry.findMetaError(dispatchError.asModule);
            reason = `${meta.section}.${meta.name}: ${meta.docs.join(' ')}`;
          }
          settle(() => reject(new ChainError('refused', `Subtensor refused ${what} in block ${blockHash}: ${reason}`)));
          return;
        }
        settle(() => {
          this.#headAt(blockHash).then(({ height }) => resolve({ height, blockHash, index: txIndex ?? -1 }), reject);
        });
      };
      const sent =
        'signer' in account
          ? extrinsic.signAndSend(account.address, { signer: account.signer }, onStatus)
          : extrinsic.signAndSend(account, onStatus);
      sent.then(
        (stop) => (settled ? stop() : (unsubscribe = stop)),
        (error: unknown) =>
          settle(() =>
            reject(
              new ChainError(
                'refused',
                `the ${what} extrinsic could not be signed or sent as ${account.address}: ${(error as Error).message}`,
              ),
            ),
          ),
      );
    });
  }
}

function noDecisions(): ChainError {
  return new ChainError(
    'unknown-call',
    "Subtensor has no call that records a WebLoCo decision (up to 256 payload hashes and a model hash, signed by a validator): on Subtensor, take decisions from the run's hub or swarm",
  );
}

/** One storage value at block `at` (null: the best block), decoded by the runtime. */
async function readStorage(provider: WsProvider, runtime: SubtensorRuntime, at: Hex | null, name: StorageName, ...args: unknown[]) {
  const value = await provider.send<Hex | null>(
    'state_getStorage',
    at === null ? [runtime.key(name, ...args)] : [runtime.key(name, ...args), at],
  );
  return runtime.decode(name, value);
}
