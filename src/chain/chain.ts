// The Chain interface: what a participant, the validator and the hub need from a chain, whichever
// chain it is. The embedded dev chain (dev-chain.ts) implements it on this machine, and is the one
// the hub and its members use. SubtensorChain (subtensor.ts) implements it over Bittensor (register
// → burnedRegister + setCommitment of the binding, commit → setCommitment, weights → setWeights,
// metagraph → its storage); it is tested offline against recorded metadata and not yet wired in.
import type { SignedAnnouncement } from '../identity/announcement.ts';
import type { SignedBinding, VerifiedBinding } from '../identity/binding.ts';
import type { Hex } from '../identity/fields.ts';
import type { SignedDecision, SignedWeights } from './extrinsics.ts';
import type { RoundClock } from './round-clock.ts';
import type { Neuron } from './state.ts';

export interface ChainHead {
  height: number;
  hash: Hex;
  /** Milliseconds since the Unix epoch. */
  timestamp: number;
}

/** Where a submitted extrinsic landed. */
export interface Inclusion {
  height: number;
  blockHash: Hex;
  /** Its position among the block's extrinsics. */
  index: number;
}

export interface Metagraph {
  run: string;
  /** The height this view was read at. */
  height: number;
  /** Registered hotkeys by uid, each with its latest session binding. */
  neurons: Neuron[];
  validators: string[];
  /** Each validator's latest weights. */
  weights: SignedWeights[];
}

/** What a binding must bring to be registered and how long it waits before committing (fixed at genesis). */
export interface BindingRules {
  /** Leading zero bits of proof of work its id must have (signBinding's `workBits`). */
  workBits: number;
  /** Rounds after its registration's round before its commits are accepted (none when registered in round 0). */
  ageRounds: number;
}

export interface Chain {
  readonly run: string;
  /** Rounds and deadlines from block heights. */
  readonly clock: RoundClock;
  readonly bindingRules: BindingRules;
  head(): Promise<ChainHead>;
  /** Called with each new head once it is final; returns the function that stops it. */
  onHead(listener: (head: ChainHead) => void): () => void;

  /**
   * Each submission is checked at once (a ChainError says what is wrong) and resolves when its
   * block is final, or rejects with a ChainError if it became invalid before it was included.
   */
  register(binding: SignedBinding): Promise<Inclusion>;
  commit(announcement: SignedAnnouncement): Promise<Inclusion>;
  decide(decision: SignedDecision): Promise<Inclusion>;
  setWeights(weights: SignedWeights): Promise<Inclusion>;

  /** The round's commits in inclusion order. */
  commits(round: number): Promise<SignedAnnouncement[]>;
  decision(round: number): Promise<SignedDecision | undefined>;
  binding(id: Hex): Promise<VerifiedBinding | undefined>;
  /** The first round a registered binding's commits are accepted in (BindingRules.ageRounds); undefined for an unknown binding. */
  firstCommitRound(binding: Hex): Promise<number | undefined>;
  /** The nonce a signer's next commit (binding) or decision/weights (validator) must exceed the last of: the smallest one accepted. */
  nextNonce(signer: { binding: Hex } | { validator: string }): Promise<number>;
  metagraph(): Promise<Metagraph>;
}

/**
 * Round `round`'s decision once the chain holds it, read every half block; undefined if `signal`
 * aborts first. Participants, validators and auditors all wait for decisions this way.
 */
export async function waitForDecision(
  chain: Pick<Chain, 'decision' | 'clock'>,
  round: number,
  signal?: AbortSignal,
): Promise<SignedDecision | undefined> {
  while (!signal?.aborted) {
    const decision = await chain.decision(round);
    if (decision) return decision;
    await new Promise((wake) => setTimeout(wake, Math.max(100, chain.clock.blockTimeMs / 2)));
  }
  return undefined;
}
