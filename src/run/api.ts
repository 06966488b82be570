// The hub's HTTP API as every member reads it: the shapes the hub serves and clients parse,
// declared once (docs/PROTOCOL.md, "HTTP API"). The chain's own routes (/api/chain/…) are
// src/chain/routes.ts's.
//   GET /api/run                        RunInfo
//   GET /api/objects/<content hash>     the object's bytes
//   GET /api/wall                       WallView
//   GET /api/wall/peers?offset=N&limit=M WallPeersPage
//   GET /api/rounds/<round>             RoundRecord
//   GET /api/retention                  Retention
//   GET /api/gauntlet/standings         GauntletStandings
//   GET /api/gauntlet/rounds/<round>    JudgedRoundRecord
import type { ContentHash } from '../base/content-hash.ts';
import type { IntegrityReason } from '../gauntlet/integrity.ts';
import type { DecisionRecord } from '../gauntlet/round.ts';
import type { GauntletState, PeerStanding } from '../gauntlet/standings.ts';
import type { LlamaConfig } from '../model/config.ts';
import type { RunSettings } from './settings.ts';

/** θ at the start of `round`, stored by the hub as a model.safetensors object. */
export interface CheckpointRef {
  round: number;
  /** blake3 of the model.safetensors bytes (its name in the object store). */
  objectHash: ContentHash;
  modelHash: ContentHash;
  bytes: number;
}

/** The run's chain as GET /api/run names it: who seals its blocks (members pin it) and its clock. */
export interface RunChainInfo {
  authority: string;
  blocksPerRound: number;
  blockTimeMs: number;
  height: number;
}

export interface HubLink {
  kind: string;
  remoteAddr: string;
  direction: string;
}

/** A hub as members reach it: its libp2p peer id, the addresses it announces, and its page's URL. */
export interface HubAddress {
  peerId: string;
  /** What the hub announces: `/dns4/<name>/tcp/<port>/wss/p2p/<id>` under `--public-url`, else its listen addresses. */
  multiaddrs: string[];
  /** The public URL of its page and API (`--public-url`, else the address it listens on). */
  url: string;
}

/**
 * An ICE server in WebRTC's RTCIceServer shape. STUN servers carry no credentials; a TURN server's
 * are minted by the hub for each GET /api/run and expire (coturn's `use-auth-secret`: username
 * `<expiry unix seconds>:<id>`, credential base64(HMAC-SHA1(secret, username))).
 */
export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

/** GET /api/run: the run, where it stands, and how to reach the hub. */
export interface RunInfo {
  runId: string;
  settings: RunSettings;
  config: LlamaConfig;
  /** The round being trained, H of its θ and the newest checkpoint; null on a hub that does not host the run's chain. */
  round: number | null;
  modelHash: ContentHash | null;
  checkpoint: CheckpointRef | null;
  chain: RunChainInfo | null;
  /** The hub that answered. */
  hub: HubAddress;
  /**
   * The run's first hub: it hosts the chain, keeps the checkpoints and copies every committed
   * payload from its committer, so every member stays connected to it too. `hub` itself on the
   * first hub; on a hub started with `--bootstrap`, null until it has reached the first one.
   */
  firstHub: HubAddress | null;
  /** STUN and TURN servers for members' WebRTC links; [] when the hub was given none. */
  iceServers: IceServer[];
  /** The hub's libp2p connections by peer, and the bytes its circuit relay carried on circuits the peer opened. */
  peers: { peerId: string; links: HubLink[]; relayedBytes: number }[];
}

/** The run of a hub that hosts its chain: where it stands is known. */
export type ChainedRunInfo = RunInfo & {
  round: number;
  modelHash: ContentHash;
  checkpoint: CheckpointRef;
  chain: RunChainInfo;
  firstHub: HubAddress;
};

/**
 * Why a commit's payload is not in its round's decision: the hub never held it in time
 * (`unavailable`), it could not be its commit's payload (`too-large`, `header-mismatch`), it does not
 * decode against θ_w (`undecodable`, take-all), the Gauntlet refused it (an integrity reason, or
 * `copy`), or the Gauntlet's standings left it out (`probation`: not admitted yet; `not-gathered`).
 */
export type ExclusionReason =
  'unavailable' | 'too-large' | 'header-mismatch' | 'undecodable' | IntegrityReason | 'copy' | 'probation' | 'not-gathered';

/** One commit left out of a decision, and why. */
export interface Exclusion {
  payloadHash: ContentHash;
  /** The committing binding's hotkey. */
  hotkey: string;
  reason: ExclusionReason;
  detail: string;
}

/**
 * GET /api/rounds/<round>: the hub's public record of a decided round, for the Gauntlet and take-all
 * alike: how many commits the chain holds for it, which payloads the decision took, and every commit
 * left out with its reason. Written before the decision goes to the chain; served once it is there.
 */
export interface RoundRecord {
  round: number;
  validator: 'gauntlet' | 'take-all';
  /** H_w and H_{w+1}. */
  baseModelHash: ContentHash;
  modelHash: ContentHash;
  /** The round's commits on chain. */
  commits: number;
  /** The decision's payloads, in aggregation order. */
  payloadHashes: ContentHash[];
  excluded: Exclusion[];
  /** How long after it started deciding the hub stopped waiting for payloads it did not hold (ms). */
  payloadDeadlineMs: number;
}

/**
 * GET /api/retention: what this hub keeps (docs/PROTOCOL.md, "Retention"). Rounds from `fromRound`
 * on can be rebuilt and audited from what it serves (a kept checkpoint at or before the round, every
 * committed payload and record since); older ones are refused with 410.
 */
export interface Retention {
  /** The policy: the latest rounds whose payloads and records are always kept. */
  retainRounds: number;
  /** The oldest round whose payloads, round record and Gauntlet judgement are kept. */
  fromRound: number;
  /** The checkpoints kept, oldest first; the last is the newest (GET /api/run's). */
  checkpoints: CheckpointRef[];
}

/** GET /api/gauntlet/rounds/<round>: what the Gauntlet decided a round from, enough for anyone to audit it (src/gauntlet/audit.ts). */
export interface JudgedRoundRecord {
  record: DecisionRecord;
  /** The standings before the round. */
  previous: GauntletState;
  /** The submissions in upload (chain) order. */
  submissions: { hotkey: string; payloadHash: ContentHash }[];
  /** The recent model hashes the validator knew (hash → round), for the sync score. */
  recentModels: [ContentHash, number][];
}

/** GET /api/gauntlet/standings. */
export interface GauntletStandings {
  ranking: PeerStanding[];
}

/** How many of the latest rounds the wall lists in full; peer totals cover every round. */
export const WALL_ROUNDS = 30;
/** How many peers GET /api/wall lists (the best first); GET /api/wall/peers pages through the rest. */
export const WALL_PEERS = 100;
/** How many of the latest decided rounds the wall's loss curve covers. */
export const WALL_LOSS_ROUNDS = 1000;

export interface WallRoundPeer {
  hotkey: string;
  /** Payload bytes it committed this round. */
  bytes: number;
  /** Its payload is in the round's decision. */
  included: boolean;
  /** The Gauntlet's final score after this round; null without a Gauntlet or before it judged the round. */
  score: number | null;
  /** Why the Gauntlet refused its payload, if it did (an integrity reason: `stale`, `malformed`, …). */
  rejected: string | null;
}

export interface WallRound {
  round: number;
  decided: boolean;
  /** Every peer that committed a payload in the round, in chain order. */
  peers: WallRoundPeer[];
  /** Payload bytes committed in the round, all peers together. */
  bytes: number;
  /** H_{w+1}, once decided. */
  modelHash: ContentHash | null;
  /** The Gauntlet's loss of θ_w on the round's random evaluation windows (null when it measured nobody). */
  loss: number | null;
}

export interface WallPeer {
  hotkey: string;
  /** The libp2p peer of its latest session. */
  peerId: string;
  /** Holds a connection to this hub now. */
  online: boolean;
  /** Height of its latest registration. */
  registeredAt: number;
  /** Rounds it committed a payload in, and how many of those payloads a decision took. */
  rounds: number;
  included: number;
  /** Payload bytes it committed, all rounds together. */
  bytes: number;
  lastRound: number | null;
  /** Its current Gauntlet final score (null without a Gauntlet or before its first evaluation). */
  score: number | null;
  /**
   * What its latest session last said of itself (POST /api/peers/status): training or paused and
   * why, its intensity and pressure, its recovered GPUs; `stale` when said over 5 minutes ago.
   * The peer's word, not the chain's; null when it said nothing.
   */
  status: WallPeerStatus | null;
}

export interface WallPeerStatus {
  state: 'training' | 'paused' | 'left';
  /** Why it is paused: its person (`user`), its tab `hidden`, `battery`, `heat`, `idle` (idle-only mode, person present), a data `cap`, a lost `gpu`. */
  reasons: string[];
  /** Percent of the time its GPU may work. */
  intensity: number;
  /** The Compute Pressure state: nominal, fair, serious, critical or unknown. */
  pressure: string;
  gpuRecoveries: number;
  /** Thousandths of its wall time since joining that its GPU trained (null before its first round ended). */
  gpuBusy: number | null;
  /** When it said so (ms since the epoch), and whether that is over 5 minutes ago. */
  at: number;
  stale: boolean;
}

/** GET /api/wall: the swarm wall's document (src/hub/wall.ts builds it). */
export interface WallView {
  runId: string;
  preset: string;
  /** The chain's head, the round it is in and the blocks left before that round closes. */
  height: number;
  round: number;
  blocksLeft: number;
  blocksPerRound: number;
  blockTimeMs: number;
  /** Rounds decided so far. */
  decidedRounds: number;
  /** Peers (browsers, nodes, other hubs) holding a libp2p connection to this hub. */
  connectedPeers: number;
  /**
   * The swarm's GPU utilisation in the peers' own words: the mean of what every peer that is not
   * stale or gone said of its GPU (`status.gpuBusy`, as a fraction), and how many said it; null when none did.
   */
  gpuBusy: { mean: number; peers: number } | null;
  /** The dense model's bytes (f32 parameters): what a payload would weigh uncompressed. */
  denseBytes: number;
  /** `gauntlet` when scores decide the rounds, else `take-all`. */
  validator: 'gauntlet' | 'take-all';
  /** Every registered hotkey (the length of the list GET /api/wall/peers pages through). */
  peerCount: number;
  /** The first WALL_PEERS of them, most included first. */
  peers: WallPeer[];
  /** The latest WALL_ROUNDS rounds, newest last, the round in progress included. */
  rounds: WallRound[];
  /** The validator's loss of the latest WALL_LOSS_ROUNDS decided rounds that have one, oldest first. */
  loss: { round: number; loss: number }[];
}

/** GET /api/wall/peers?offset=N&limit=M (M ≤ WALL_PEERS): a page of the wall's peers, in the wall's order. */
export interface WallPeersPage {
  total: number;
  offset: number;
  peers: WallPeer[];
}
