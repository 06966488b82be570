// The round clock: rounds are runs of consecutive blocks, so every peer derives the same round
// and deadline from a block height alone. Round w spans heights [w·B, (w+1)·B − 1] for B blocks
// per round (the genesis block is height 0, in round 0); its deadline is its last block. A commit
// for round w must be in a block of round w; its decision can only come in a later block.

export class RoundClock {
  readonly blocksPerRound: number;
  /** The target time between blocks, for estimates only: heights, not clocks, decide rounds. */
  readonly blockTimeMs: number;

  constructor(blocksPerRound: number, blockTimeMs: number) {
    if (!Number.isSafeInteger(blocksPerRound) || blocksPerRound < 1)
      throw new RangeError(`blocksPerRound must be a positive integer, got ${blocksPerRound}`);
    if (!Number.isSafeInteger(blockTimeMs) || blockTimeMs < 1)
      throw new RangeError(`blockTimeMs must be a positive integer, got ${blockTimeMs}`);
    this.blocksPerRound = blocksPerRound;
    this.blockTimeMs = blockTimeMs;
  }

  roundAt(height: number): number {
    return Math.floor(height / this.blocksPerRound);
  }

  firstBlock(round: number): number {
    return round * this.blocksPerRound;
  }

  /** The round's deadline: the last height at which a commit for it can be included. */
  lastBlock(round: number): number {
    return (round + 1) * this.blocksPerRound - 1;
  }

  /** When the block at `height` is expected, from the head's height and timestamp (ms). */
  estimateTime(head: { height: number; timestamp: number }, height: number): number {
    return head.timestamp + (height - head.height) * this.blockTimeMs;
  }

  /** The round at the head, the blocks left in it and its estimated deadline (ms). */
  position(head: { height: number; timestamp: number }): { round: number; blocksLeft: number; deadline: number } {
    const round = this.roundAt(head.height);
    const last = this.lastBlock(round);
    return { round, blocksLeft: last - head.height, deadline: this.estimateTime(head, last) };
  }
}
