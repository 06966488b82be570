// What the swarm wall (the app's /#/wall, for conference screens) shows, as one read-only JSON
// document (GET /api/wall, docs/PROTOCOL.md): the run's clock, every peer the chain knows with
// what it sent and how it scored, and the recent rounds with who was included, the validator's
// loss and the bytes sent. It is read from the chain (commits, decisions, registrations), the
// Gauntlet's published judgements and the hub's own links, never from what a peer says of itself.
// A decided round never changes, so its summary is kept once made; only the open rounds are read
// again on each request.
import type { DevChain } from '../chain/dev-chain.ts';
import type { PeerStanding } from '../gauntlet/standings.ts';
import { toContentHash } from '../base/content-hash.ts';
import { WALL_ROUNDS, type JudgedRoundRecord, type WallPeer, type WallRound, type WallRoundPeer, type WallView } from '../run/api.ts';

export interface WallSources {
  chain: DevChain;
  preset: string;
  denseBytes: number;
  /** The libp2p peers connected to the hub now. */
  connected: () => string[];
  /** The Gauntlet's judgement of a round (undefined before it judged it, or without a Gauntlet). */
  judged?: (round: number) => Promise<JudgedRoundRecord | undefined>;
  /** The Gauntlet's standings now. */
  ranking?: () => PeerStanding[];
}

/** Builds the wall's document on request, keeping the summaries of decided rounds. */
export class Wall {
  private readonly decided = new Map<number, WallRound>();

  constructor(private readonly sources: WallSources) {}

  async view(): Promise<WallView> {
    const { chain } = this.sources;
    const head = chain.headBlock();
    const { round: current, blocksLeft } = chain.clock.position(head);
    const rounds: WallRound[] = [];
    for (let round = 0; round <= current; round++) rounds.push(this.decided.get(round) ?? (await this.summarize(round)));
    const connected = new Set(this.sources.connected());
    const standings = new Map((this.sources.ranking?.() ?? []).map((s) => [s.hotkey, s]));
    const peers = new Map<string, WallPeer>();
    for (const neuron of (await chain.metagraph()).neurons) {
      const { hotkey, peerId } = neuron.binding.binding;
      const standing = standings.get(hotkey);
      peers.set(hotkey, {
        hotkey,
        peerId,
        online: connected.has(peerId),
        registeredAt: neuron.registeredAt,
        rounds: 0,
        included: 0,
        bytes: 0,
        lastRound: null,
        score: standing && standing.evaluations > 0 ? standing.final : null,
      });
    }
    for (const round of rounds) {
      for (const sent of round.peers) {
        const peer = peers.get(sent.hotkey);
        if (!peer) continue; // every committer registered first: the chain refuses a commit without a binding
        peer.rounds++;
        peer.bytes += sent.bytes;
        if (sent.included) peer.included++;
        peer.lastRound = round.round;
      }
    }
    return {
      runId: chain.run,
      preset: this.sources.preset,
      height: head.height,
      round: current,
      blocksLeft,
      blocksPerRound: chain.clock.blocksPerRound,
      blockTimeMs: chain.clock.blockTimeMs,
      decidedRounds: rounds.filter((r) => r.decided).length,
      connectedPeers: connected.size,
      denseBytes: this.sources.denseBytes,
      validator: this.sources.judged ? 'gauntlet' : 'take-all',
      peers: [...peers.values()].sort(
        (a, b) => b.included - a.included || b.rounds - a.rounds || a.registeredAt - b.registeredAt || a.hotkey.localeCompare(b.hotkey),
      ),
      rounds: rounds.slice(-WALL_ROUNDS),
      loss: rounds.flatMap((r) => (r.decided && r.loss !== null ? [{ round: r.round, loss: r.loss }] : [])),
    };
  }

  /** One round from the chain (and the Gauntlet's record); kept once decided and, with a Gauntlet, judged. */
  private async summarize(round: number): Promise<WallRound> {
    const { chain } = this.sources;
    const decision = (await chain.decision(round))?.decision;
    const judged = decision ? await this.sources.judged?.(round) : undefined;
    const taken = new Set(decision?.payloadHashes.map((h) => toContentHash(h)) ?? []);
    const scores = new Map(judged?.record.scores.map((s) => [s.hotkey, s]) ?? []);
    const rejected = new Map(judged?.record.rejected.map((r) => [r.payloadHash, r.reason]) ?? []);
    const peers: WallRoundPeer[] = [];
    for (const { announcement } of await chain.commits(round)) {
      const binding = await chain.binding(announcement.binding);
      if (!binding) continue;
      const hash = toContentHash(announcement.payloadHash);
      const hotkey = binding.binding.hotkey;
      const score = scores.get(hotkey);
      peers.push({
        hotkey,
        bytes: announcement.bytes,
        included: taken.has(hash),
        score: score ? score.final : null,
        rejected: rejected.get(hash) ?? null,
      });
    }
    const measured = judged?.record.measurements ?? [];
    const summary: WallRound = {
      round,
      decided: decision !== undefined,
      peers,
      bytes: peers.reduce((sum, p) => sum + p.bytes, 0),
      modelHash: decision ? toContentHash(decision.modelHash) : null,
      // Every evaluated peer is measured on the same random windows of θ_w: one loss for the round.
      loss: measured.length > 0 ? measured.reduce((sum, m) => sum + m.lossBeforeRandom, 0) / measured.length : null,
    };
    if (decision && (judged || !this.sources.judged)) this.decided.set(round, summary);
    return summary;
  }
}
