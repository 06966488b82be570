// The chain's state transition: what each extrinsic requires of the state and what it changes.
// Browser-safe, so the dev chain (which makes blocks) and every verifier (which replays them) run
// the very same rules. A `fork()` is a layer over its parent that sees the parent's state and
// writes only into itself; `merge()` folds it into the parent. The dev chain validates submissions
// against a fork (state plus the pool) and builds each block in a fork that is merged only once
// the block is stored, so a failed write leaves the state as it was.
import { verifyAnnouncement, type SignedAnnouncement } from '../identity/announcement.ts';
import { verifyBinding, type VerifiedBinding } from '../identity/binding.ts';
import type { Hex } from '../identity/fields.ts';
import { leadingZeroBits } from '../identity/work.ts';
import {
  asChainError,
  ChainError,
  MAX_COMMITS_PER_ROUND,
  parseDecision,
  parseExtrinsic,
  parseWeights,
  verifyValidatorStatement,
  type Extrinsic,
  type GenesisSpec,
  type SignedDecision,
  type SignedWeights,
} from './extrinsics.ts';
import { RoundClock } from './round-clock.ts';

/** Where an extrinsic is being applied: the block's height and timestamp (ms). */
export interface BlockContext {
  height: number;
  timestamp: number;
}

export interface Neuron {
  /** Assigned in order of each hotkey's first registration, from 0. */
  uid: number;
  hotkey: string;
  /** The hotkey's latest registered binding. */
  binding: VerifiedBinding;
  /** Height of that registration. */
  registeredAt: number;
}

/** A layered map: reads fall through to the parent's layer. */
class Layer<K, V> {
  readonly own = new Map<K, V>();
  readonly parent: Layer<K, V> | undefined;
  constructor(parent?: Layer<K, V>) {
    this.parent = parent;
  }
  get(key: K): V | undefined {
    return this.own.has(key) ? this.own.get(key) : this.parent?.get(key);
  }
  has(key: K): boolean {
    return this.own.has(key) || (this.parent?.has(key) ?? false);
  }
  set(key: K, value: V): void {
    this.own.set(key, value);
  }
  mergeInto(target: Layer<K, V>): void {
    for (const [k, v] of this.own) target.own.set(k, v);
  }
}

export class ChainState {
  readonly spec: GenesisSpec;
  readonly clock: RoundClock;
  readonly #parent: ChainState | undefined;
  /** Last accepted nonce per signer ('binding:<id>' or 'validator:<address>'). */
  readonly #nonces: Layer<string, number>;
  readonly #bindings: Layer<Hex, VerifiedBinding>;
  /** The height each binding was registered at. */
  readonly #bindingHeights: Layer<Hex, number>;
  readonly #neurons: Layer<string, Neuron>;
  /** '<hotkey>/<binding nonce>' of every registration. */
  readonly #bindingNonces: Layer<string, true>;
  /** '<round>/<binding id>' → the commit. */
  readonly #commits: Layer<string, SignedAnnouncement>;
  /** '<round>/<payload hash>' → the binding that committed it. */
  readonly #committedPayloads: Layer<string, Hex>;
  /** Commits per round (the base layer's and every fork's own). */
  readonly #commitCounts: Layer<number, number>;
  readonly #decisions: Layer<number, SignedDecision>;
  readonly #weights: Layer<string, SignedWeights>;
  /** Commits per round in inclusion order (appended to on merge; the base layer's is complete). */
  readonly #commitsByRound = new Map<number, SignedAnnouncement[]>();
  #neuronCount: number;

  constructor(spec: GenesisSpec, parent?: ChainState) {
    this.spec = spec;
    this.clock = parent?.clock ?? new RoundClock(spec.blocksPerRound, spec.blockTimeMs);
    this.#parent = parent;
    const below = parent ? parent.#layers() : undefined;
    this.#nonces = new Layer(below?.nonces);
    this.#bindings = new Layer(below?.bindings);
    this.#bindingHeights = new Layer(below?.bindingHeights);
    this.#neurons = new Layer(below?.neurons);
    this.#bindingNonces = new Layer(below?.bindingNonces);
    this.#commits = new Layer(below?.commits);
    this.#committedPayloads = new Layer(below?.committedPayloads);
    this.#commitCounts = new Layer(below?.commitCounts);
    this.#decisions = new Layer(below?.decisions);
    this.#weights = new Layer(below?.weights);
    this.#neuronCount = parent ? parent.#neuronCount : 0;
  }

  #layers() {
    return {
      nonces: this.#nonces,
      bindings: this.#bindings,
      bindingHeights: this.#bindingHeights,
      neurons: this.#neurons,
      bindingNonces: this.#bindingNonces,
      commits: this.#commits,
      committedPayloads: this.#committedPayloads,
      commitCounts: this.#commitCounts,
      decisions: this.#decisions,
      weights: this.#weights,
    };
  }

  fork(): ChainState {
    return new ChainState(this.spec, this);
  }

  /** Writes this fork's changes into its parent. */
  merge(): void {
    const parent = this.#parent;
    if (!parent) throw new Error('merge: this state is not a fork');
    this.#nonces.mergeInto(parent.#nonces);
    this.#bindings.mergeInto(parent.#bindings);
    this.#bindingHeights.mergeInto(parent.#bindingHeights);
    this.#neurons.mergeInto(parent.#neurons);
    this.#bindingNonces.mergeInto(parent.#bindingNonces);
    this.#commits.mergeInto(parent.#commits);
    this.#committedPayloads.mergeInto(parent.#committedPayloads);
    this.#commitCounts.mergeInto(parent.#commitCounts);
    this.#decisions.mergeInto(parent.#decisions);
    this.#weights.mergeInto(parent.#weights);
    for (const [round, commits] of this.#commitsByRound) {
      const list = parent.#commitsByRound.get(round) ?? [];
      list.push(...commits);
      parent.#commitsByRound.set(round, list);
    }
    parent.#neuronCount = this.#neuronCount;
  }

  /**
   * Applies one untrusted extrinsic in the block at `at`, or throws ChainError saying why it is
   * refused (and then changes nothing). Returns the parsed extrinsic.
   */
  apply(value: unknown, at: BlockContext): Extrinsic {
    const extrinsic = parseExtrinsic(value);
    switch (extrinsic.call) {
      case 'genesis':
        throw new ChainError('unknown-call', 'the genesis call exists only in block 0');
      case 'register':
        this.#register(extrinsic.binding, at);
        break;
      case 'commit':
        this.#commit(extrinsic.commit, at);
        break;
      case 'decision':
        this.#decide(extrinsic.decision, at);
        break;
      case 'weights':
        this.#setWeights(extrinsic.weights, at);
        break;
    }
    return extrinsic;
  }

  #register(value: unknown, at: BlockContext): void {
    const verified = asChainError(() => verifyBinding(value, { run: this.spec.run, now: at.timestamp }));
    const { hotkey, nonce } = verified.binding;
    if (this.#bindings.has(verified.id)) throw new ChainError('already-registered', `binding ${verified.id} is already registered`);
    if (this.#bindingNonces.has(`${hotkey}/${nonce}`)) {
      throw new ChainError(
        'wrong-nonce',
        `hotkey ${hotkey} already registered a binding with nonce ${nonce}: each binding needs a fresh nonce`,
      );
    }
    const work = leadingZeroBits(verified.id);
    if (work < this.spec.bindingWorkBits)
      throw new ChainError(
        'insufficient-work',
        `binding ${verified.id} carries ${work} bits of proof of work; run '${this.spec.run}' registers bindings with ${this.spec.bindingWorkBits}: search its nonce (signBinding's workBits)`,
      );
    const previous = this.#neurons.get(hotkey);
    const uid = previous?.uid ?? this.#neuronCount++;
    this.#bindings.set(verified.id, verified);
    this.#bindingHeights.set(verified.id, at.height);
    this.#bindingNonces.set(`${hotkey}/${nonce}`, true);
    this.#neurons.set(hotkey, { uid, hotkey, binding: verified, registeredAt: at.height });
  }

  #commit(value: unknown, at: BlockContext): void {
    const round = this.clock.roundAt(at.height);
    const { announcement, signature } = asChainError(() =>
      verifyAnnouncement(value, {
        run: this.spec.run,
        acceptRound: (r) => r === round,
        bindingOf: (id) => this.#bindings.get(id),
        now: at.timestamp,
      }),
    );
    const signer = `binding:${announcement.binding}`;
    this.#checkNonce(signer, announcement.nonce);
    const from = this.firstCommitRound(announcement.binding)!;
    if (round < from)
      throw new ChainError(
        'too-young',
        `binding ${announcement.binding} may commit from round ${from} on (${this.spec.bindingAgeRounds} rounds after the round it was registered in), this is round ${round}`,
      );
    const key = `${round}/${announcement.binding}`;
    if (this.#commits.has(key))
      throw new ChainError('duplicate', `binding ${announcement.binding} already committed a payload in round ${round}`);
    const payloadKey = `${round}/${announcement.payloadHash}`;
    const author = this.#committedPayloads.get(payloadKey);
    if (author !== undefined)
      throw new ChainError(
        'copied-payload',
        `payload ${announcement.payloadHash} was already committed in round ${round} by binding ${author}: a payload belongs to the binding that committed it first`,
      );
    const count = this.#commitCounts.get(round) ?? 0;
    if (count >= MAX_COMMITS_PER_ROUND)
      throw new ChainError(
        'round-full',
        `round ${round} already holds ${count} commits, as many as a decision can list: commit in the next round`,
      );
    this.#nonces.set(signer, announcement.nonce);
    this.#commits.set(key, { announcement, signature });
    this.#committedPayloads.set(payloadKey, announcement.binding);
    this.#commitCounts.set(round, count + 1);
    const list = this.#commitsByRound.get(round) ?? [];
    list.push({ announcement, signature });
    this.#commitsByRound.set(round, list);
  }

  #decide(value: unknown, at: BlockContext): void {
    const { statement: decision, signature } = verifyValidatorStatement(value, 'decision', parseDecision);
    this.#checkValidator(decision.validator, decision.run);
    this.#checkNonce(`validator:${decision.validator}`, decision.nonce);
    const deadline = this.clock.lastBlock(decision.round);
    if (at.height <= deadline)
      throw new ChainError(
        'too-early',
        `round ${decision.round} ends at block ${deadline}; its decision can come from block ${deadline + 1} on, this is block ${at.height}`,
      );
    if (this.#decisions.has(decision.round)) throw new ChainError('duplicate', `round ${decision.round} is already decided`);
    for (const hash of decision.payloadHashes) {
      if (!this.#committedPayloads.has(`${decision.round}/${hash}`))
        throw new ChainError('unknown-payload', `the decision names payload ${hash}, which was not committed in round ${decision.round}`);
    }
    this.#nonces.set(`validator:${decision.validator}`, decision.nonce);
    this.#decisions.set(decision.round, { decision, signature });
  }

  #setWeights(value: unknown, at: BlockContext): void {
    const { statement: weights, signature } = verifyValidatorStatement(value, 'weights', parseWeights);
    this.#checkValidator(weights.validator, weights.run);
    this.#checkNonce(`validator:${weights.validator}`, weights.nonce);
    const round = this.clock.roundAt(at.height);
    if (weights.round > round)
      throw new ChainError(
        'wrong-round',
        `weights for round ${weights.round} arrived in round ${round}: they can only reflect rounds that have begun`,
      );
    for (const { hotkey } of weights.weights) {
      if (!this.#neurons.has(hotkey))
        throw new ChainError('not-registered', `the weights name hotkey ${hotkey}, which never registered in this run`);
    }
    this.#nonces.set(`validator:${weights.validator}`, weights.nonce);
    this.#weights.set(weights.validator, { weights, signature });
  }

  #checkValidator(validator: string, run: string): void {
    if (run !== this.spec.run) throw new ChainError('wrong-run', `signed for run '${run}', this chain is run '${this.spec.run}'`);
    if (!this.spec.validators.includes(validator))
      throw new ChainError(
        'not-validator',
        `${validator} is not a validator of run '${this.spec.run}' (validators: ${this.spec.validators.join(', ')})`,
      );
  }

  /** Nonces only go up: anything at or below the signer's last accepted nonce is a replay or stale. */
  #checkNonce(signer: string, nonce: number): void {
    const last = this.#nonces.get(signer);
    if (last !== undefined && nonce <= last)
      throw new ChainError(
        'wrong-nonce',
        `nonce ${nonce} is not above ${signer}'s last accepted nonce ${last}: a replay or a stale statement`,
      );
  }

  // Reads (on the base state; a fork sees its parent's too, except commits()).

  binding(id: Hex): VerifiedBinding | undefined {
    return this.#bindings.get(id);
  }

  /**
   * The first round a registered binding may commit in: `bindingAgeRounds` after the round of its
   * registration, or at once for one registered in round 0, when every member of a run is new (a
   * peer that starts with the run has no null rounds either). Undefined for an unknown binding.
   */
  firstCommitRound(id: Hex): number | undefined {
    const height = this.#bindingHeights.get(id);
    if (height === undefined) return undefined;
    const registered = this.clock.roundAt(height);
    return registered === 0 ? 0 : registered + this.spec.bindingAgeRounds;
  }

  /** The round's commits in inclusion order. */
  commits(round: number): SignedAnnouncement[] {
    return [...(this.#commitsByRound.get(round) ?? [])];
  }

  decision(round: number): SignedDecision | undefined {
    return this.#decisions.get(round);
  }

  nextNonce(signer: { binding: Hex } | { validator: string }): number {
    const last = this.#nonces.get('binding' in signer ? `binding:${signer.binding}` : `validator:${signer.validator}`);
    return last === undefined ? 0 : last + 1;
  }

  /** This state and its parents, newest layer first. */
  *#stack(): Generator<ChainState> {
    yield this;
    if (this.#parent) yield* this.#parent.#stack();
  }

  neurons(): Neuron[] {
    const all = new Map<string, Neuron>();
    for (const state of this.#stack()) {
      for (const [hotkey, neuron] of state.#neurons.own) if (!all.has(hotkey)) all.set(hotkey, neuron);
    }
    return [...all.values()].sort((a, b) => a.uid - b.uid);
  }

  weights(): SignedWeights[] {
    return this.spec.validators.map((v) => this.#weights.get(v)).filter((w): w is SignedWeights => w !== undefined);
  }
}
