// What the swarm wall (the app's /#/wall, for conference screens) shows, as one read-only JSON
// document (GET /api/wall, docs/PROTOCOL.md): the run's clock, the peers the chain knows with what
// they sent and how they scored, and the recent rounds with who was included, the validator's loss
// and the bytes sent. It is read from the chain (commits, decisions, registrations), the Gauntlet's
// published judgements and the hub's own links, never from what a peer says of itself.
// Its size is bounded whatever the run's length and however many register: the best WALL_PEERS
// peers (GET /api/wall/peers pages through the rest), the latest WALL_ROUNDS rounds, the loss of
// the latest WALL_LOSS_ROUNDS. A decided round never changes, so it is folded once into the
// per-peer totals and forgotten, but for the latest rounds' summaries; only the open rounds are
// read again on each request.
import type { DevChain } from '../chain/dev-chain.ts';
import type { PeerStanding } from '../gauntlet/standings.ts';
import type { Hex } from '../identity/fields.ts';
import { toContentHash } from '../base/content-hash.ts';
import {
  WALL_LOSS_ROUNDS,
  WALL_PEERS,
  WALL_ROUNDS,
  type JudgedRoundRecord,
  type WallPeer,
  type WallPeersPage,
  type WallPeerStatus,
  type WallRound,
  type WallRoundPeer,
  type WallView,
} from '../run/api.ts';

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
  /** The oldest round whose Gauntlet judgement the hub keeps (retention.ts): older ones are summarized without it. */
  keptFrom?: () => number;
  /** What a binding last said of itself (peer-statuses.ts). */
  statusOf?: (binding: Hex) => WallPeerStatus | undefined;
}

type PeerTotals = Pick<WallPeer, 'rounds' | 'included' | 'bytes' | 'lastRound'>;

/** The mean of the GPU utilisation that peers still in the run said of themselves. */
function swarmGpuBusy(peers: readonly WallPeer[]): WallView['gpuBusy'] {
  const said = peers.flatMap(({ status: s }) => (s && !s.stale && s.state !== 'left' && s.gpuBusy !== null ? [s.gpuBusy / 1000] : []));
  return said.length === 0 ? null : { mean: said.reduce((sum, f) => sum + f, 0) / said.length, peers: said.length };
}

/** Builds the wall's document on request, folding each decided round into the totals once. */
export class Wall {
  /** Per hotkey, what its decided rounds add up to. */
  private readonly totals = new Map<string, PeerTotals>();
  /** Summaries of the latest decided rounds, oldest first. */
  private readonly recent: WallRound[] = [];
  private readonly losses: { round: number; loss: number }[] = [];
  /** The first round not folded yet. */
  private folded = 0;
  private decidedRounds = 0;
  /** Requests refresh one at a time, so that no round is folded twice. */
  private refreshing: Promise<unknown> = Promise.resolve();

  constructor(private readonly sources: WallSources) {}

  async view(): Promise<WallView> {
    const { chain } = this.sources;
    const head = chain.headBlock();
    const { round: current, blocksLeft } = chain.clock.position(head);
    const open = await this.refreshed(current);
    const connected = new Set(this.sources.connected());
    const peers = await this.peers(connected, open);
    return {
      runId: chain.run,
      preset: this.sources.preset,
      height: head.height,
      round: current,
      blocksLeft,
      blocksPerRound: chain.clock.blocksPerRound,
      blockTimeMs: chain.clock.blockTimeMs,
      decidedRounds: this.decidedRounds + open.filter((r) => r.decided).length,
      connectedPeers: connected.size,
      gpuBusy: swarmGpuBusy(peers),
      denseBytes: this.sources.denseBytes,
      validator: this.sources.judged ? 'gauntlet' : 'take-all',
      peerCount: peers.length,
      peers: peers.slice(0, WALL_PEERS),
      rounds: [...this.recent, ...open].slice(-WALL_ROUNDS),
      loss: [...this.losses, ...open.flatMap((r) => (r.decided && r.loss !== null ? [{ round: r.round, loss: r.loss }] : []))].slice(
        -WALL_LOSS_ROUNDS,
      ),
    };
  }

  /** `limit` (at most WALL_PEERS) of the wall's peers from `offset`, in the wall's order. */
  async peersPage(offset: number, limit: number): Promise<WallPeersPage> {
    const { round: current } = this.sources.chain.clock.position(this.sources.chain.headBlock());
    const peers = await this.peers(new Set(this.sources.connected()), await this.refreshed(current));
    return { total: peers.length, offset, peers: peers.slice(offset, offset + Math.min(limit, WALL_PEERS)) };
  }

  private refreshed(current: number): Promise<WallRound[]> {
    const next = this.refreshing.then(() => this.refresh(current));
    this.refreshing = next.catch(() => undefined);
    return next;
  }

  /** Folds every round that is decided (and judged, with a Gauntlet) into the totals; returns the summaries of the rest up to `current`. */
  private async refresh(current: number): Promise<WallRound[]> {
    const open: WallRound[] = [];
    for (let round = this.folded; round <= current; round++) {
      const { summary, final } = await this.summarize(round);
      if (final && open.length === 0) this.fold(summary);
      else open.push(summary);
    }
    return open;
  }

  private fold(summary: WallRound): void {
    for (const sent of summary.peers) {
      const t = this.totals.get(sent.hotkey) ?? { rounds: 0, included: 0, bytes: 0, lastRound: null };
      t.rounds++;
      t.bytes += sent.bytes;
      if (sent.included) t.included++;
      t.lastRound = summary.round;
      this.totals.set(sent.hotkey, t);
    }
    this.recent.push(summary);
    if (this.recent.length > WALL_ROUNDS) this.recent.shift();
    if (summary.loss !== null) this.losses.push({ round: summary.round, loss: summary.loss });
    if (this.losses.length > WALL_LOSS_ROUNDS) this.losses.shift();
    this.decidedRounds++;
    this.folded = summary.round + 1;
  }

  /** Every registered hotkey with its totals (the open rounds' commits added), most included first. */
  private async peers(connected: ReadonlySet<string>, open: readonly WallRound[]): Promise<WallPeer[]> {
    const standings = new Map((this.sources.ranking?.() ?? []).map((s) => [s.hotkey, s]));
    const peers = new Map<string, WallPeer>();
    for (const neuron of (await this.sources.chain.metagraph()).neurons) {
      const { hotkey, peerId } = neuron.binding.binding;
      const standing = standings.get(hotkey);
      const status = this.sources.statusOf?.(neuron.binding.id);
      peers.set(hotkey, {
        hotkey,
        peerId,
        online: connected.has(peerId),
        registeredAt: neuron.registeredAt,
        ...(this.totals.get(hotkey) ?? { rounds: 0, included: 0, bytes: 0, lastRound: null }),
        score: standing && standing.evaluations > 0 ? standing.final : null,
        status: status ?? null,
      });
    }
    for (const round of open) {
      for (const sent of round.peers) {
        const peer = peers.get(sent.hotkey);
        if (!peer) continue; // every committer registered first: the chain refuses a commit without a binding
        peer.rounds++;
        peer.bytes += sent.bytes;
        if (sent.included) peer.included++;
        peer.lastRound = round.round;
      }
    }
    return [...peers.values()].sort(
      (a, b) => b.included - a.included || b.rounds - a.rounds || a.registeredAt - b.registeredAt || a.hotkey.localeCompare(b.hotkey),
    );
  }

  /** One round from the chain (and the Gauntlet's record); `final` once it is decided and, with a Gauntlet, judged (or past retention). */
  private async summarize(round: number): Promise<{ summary: WallRound; final: boolean }> {
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
    const judgedOrGone = judged !== undefined || !this.sources.judged || round < (this.sources.keptFrom?.() ?? 0);
    return { summary, final: decision !== undefined && judgedOrGone };
  }
}
