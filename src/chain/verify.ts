// Verifies a chain from its genesis block, in any browser: each block's fields, hash, extrinsics
// root and authority signature, that it extends the previous block (height + 1, parent hash,
// later timestamp), that its author is the genesis authority (and the one the caller expects),
// and that every extrinsic in it is valid when replayed through the same state transition the
// dev chain used (state.ts): so a block, a binding, a commit or a decision altered anywhere, or
// re-signed by anyone but its signer, is refused.
import { BlockVerificationError, verifyBlockSeal, type Block } from './block.ts';
import { ChainError, parseExtrinsic, parseGenesisSpec } from './extrinsics.ts';
import { ChainState } from './state.ts';

export class ChainVerifier {
  readonly #expectedAuthority: string | undefined;
  #head: Block | undefined;
  #state: ChainState | undefined;

  /** `authority`: the SS58 address the blocks must be sealed by (pin it; otherwise genesis names it). */
  constructor(options: { authority?: string } = {}) {
    this.#expectedAuthority = options.authority;
  }

  get head(): Block | undefined {
    return this.#head;
  }

  /** The replayed state after the last verified block. */
  get state(): ChainState {
    if (!this.#state) throw new Error('ChainVerifier: no block verified yet (start with the genesis block)');
    return this.#state;
  }

  /** Verifies the next block (the genesis block first); throws BlockVerificationError and keeps the previous head if it is not valid. */
  push(value: unknown): Block {
    const block = verifyBlockSeal(value);
    const fail = (why: string): never => {
      throw new BlockVerificationError(block.height, `block ${block.height}: ${why}`);
    };
    if (this.#expectedAuthority !== undefined && block.author !== this.#expectedAuthority)
      fail(`sealed by ${block.author}, not by the expected authority ${this.#expectedAuthority}`);
    const head = this.#head;
    if (!head || !this.#state) {
      if (block.height !== 0) fail('verification must start at the genesis block (height 0)');
      const spec = (() => {
        try {
          const genesis = block.extrinsics.length === 1 ? parseExtrinsic(block.extrinsics[0]) : undefined;
          if (genesis?.call !== 'genesis') return fail('the genesis block must hold exactly one extrinsic, the genesis spec');
          return parseGenesisSpec(genesis.spec);
        } catch (error) {
          if (error instanceof ChainError) return fail(`invalid genesis spec: ${error.message}`);
          throw error;
        }
      })();
      if (spec.authority !== block.author) fail(`sealed by ${block.author}, but the genesis spec names ${spec.authority} as the authority`);
      this.#state = new ChainState(spec);
      this.#head = block;
      return block;
    }
    if (block.height !== head.height + 1) fail(`expected height ${head.height + 1} next`);
    if (block.parentHash !== head.hash) fail(`its parent hash ${block.parentHash} is not the hash of block ${head.height} (${head.hash})`);
    if (block.timestamp <= head.timestamp) fail(`its timestamp ${block.timestamp} is not after its parent's ${head.timestamp}`);
    if (block.author !== head.author) fail(`sealed by ${block.author}, not by the chain's authority ${head.author}`);
    const next = this.#state.fork();
    block.extrinsics.forEach((extrinsic, index) => {
      try {
        next.apply(extrinsic, block);
      } catch (error) {
        if (error instanceof ChainError) fail(`extrinsic ${index} is invalid (${error.code}): ${error.message}`);
        throw error;
      }
    });
    next.merge();
    this.#head = block;
    return block;
  }
}

/** Verifies a whole chain from genesis; returns the verifier (its head and replayed state). */
export function verifyChain(blocks: readonly unknown[], options: { authority?: string } = {}): ChainVerifier {
  const verifier = new ChainVerifier(options);
  for (const block of blocks) verifier.push(block);
  return verifier;
}
