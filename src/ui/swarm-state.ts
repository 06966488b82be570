// The tab's life in a swarm as one reducer: choosing a hotkey, joining (each step named), taking
// part in rounds (which phase, how far), pausing, what it saved after each round, the GPU devices
// it lost and how long each recovery took, and how it ended. Every label, bar and button of the swarm dashboard derives from it.
import type { JoinedFrom, ParticipantRound } from '../run/participant.ts';
import type { ParticipantStatus, SavedRound, SessionSummary } from '../client/swarm-client.ts';
import type { PeerLink } from '../swarm/swarm.ts';
import type { LossPoint } from './loss-series.ts';

export type SwarmPhase = 'idle' | 'joining' | 'joined' | 'finished' | 'left' | 'error';

/** The round's phases in order, as the timeline shows them. */
export const ROUND_PHASES = ['sync', 'train', 'compress', 'upload', 'decision', 'apply'] as const;
export type RoundPhase = (typeof ROUND_PHASES)[number];

/** Keep the chart's inner-step history bounded (a tab may run for days). */
const MAX_STEPS = 5_000;

export interface SwarmState {
  phase: SwarmPhase;
  /** What the join is waiting for, while joining. */
  progress: string | null;
  /** Who this tab is in the swarm, once joined. */
  identity: { peerId: string; hubPeerIds: string[]; session: SessionSummary } | null;
  /** Where θ came from and, for a resumed session, the θ (by hash) and error feedback restored. */
  resumed: {
    joinedFrom: JoinedFrom | null;
    model: { round: number; modelHash: string } | null;
    errorFeedback: { round: number; hash: string } | null;
  } | null;
  /** The participant's current round and what it is doing in it. */
  participant: ParticipantStatus | null;
  /** The phase of the round in the timeline's terms, and inner steps done in this round. */
  roundPhase: RoundPhase | null;
  stepsThisRound: number;
  /** H of the model this tab holds, after joining and after each round. */
  modelHash: string | null;
  rounds: ParticipantRound[];
  links: PeerLink[];
  /** The latest inner step the worker took, and every step's loss for the chart. */
  step: { step: number; loss: number; tokensPerSecond: number } | null;
  losses: LossPoint[];
  /** Held-out loss of θ after each round, at the optimizer step it was reached. */
  heldOut: LossPoint[];
  /** What was saved after the latest round (θ, AdamW state, e), if anything. */
  saved: SavedRound | null;
  paused: boolean;
  /** GPU devices lost while in the run, and the tab's recoveries from them (a new device, the saved state, the same session). */
  gpu: GpuRecovery;
  error: string | null;
}

export interface GpuRecovery {
  lost: number;
  recovered: number;
  /** A lost device is being replaced and the run rejoined right now. */
  recovering: boolean;
  /** The browser's reason for the latest loss. */
  reason: string | null;
  /** From the loss to holding the restored state in the run again, for the latest recovery. */
  lastMs: number | null;
}

export type SwarmAction =
  /** `recovering`: rejoining after a lost GPU; the dashboard keeps its history. */
  | { type: 'join'; recovering?: boolean }
  | { type: 'progress'; progress: string }
  | { type: 'joined'; identity: NonNullable<SwarmState['identity']>; modelHash: string; resumed: SwarmState['resumed'] }
  | { type: 'status'; status: ParticipantStatus }
  | { type: 'compress' }
  | { type: 'round'; round: ParticipantRound }
  | { type: 'saved'; saved: SavedRound }
  | { type: 'links'; links: PeerLink[] }
  | { type: 'step'; step: NonNullable<SwarmState['step']> }
  | { type: 'paused'; paused: boolean }
  | { type: 'finished' }
  | { type: 'left' }
  | { type: 'failed'; message: string }
  | { type: 'gpu-lost'; reason: string }
  | { type: 'gpu-recovered'; ms: number };

export const initialSwarm: SwarmState = {
  phase: 'idle',
  progress: null,
  identity: null,
  resumed: null,
  participant: null,
  roundPhase: null,
  stepsThisRound: 0,
  modelHash: null,
  rounds: [],
  links: [],
  step: null,
  losses: [],
  heldOut: [],
  saved: null,
  paused: false,
  gpu: { lost: 0, recovered: 0, recovering: false, reason: null, lastMs: null },
  error: null,
};

const PHASE_OF: Record<ParticipantStatus['phase'], RoundPhase> = {
  joining: 'sync',
  resyncing: 'sync',
  training: 'train',
  submitting: 'upload',
  waiting: 'decision',
  applying: 'apply',
};

export function swarmReducer(s: SwarmState, a: SwarmAction): SwarmState {
  switch (a.type) {
    case 'join':
      // A recovery keeps the rounds, losses and saved state shown: the tab goes on with them.
      return a.recovering
        ? { ...s, phase: 'joining', progress: null, participant: null, roundPhase: null, stepsThisRound: 0, error: null }
        : { ...initialSwarm, phase: 'joining', links: s.links, paused: s.paused, gpu: s.gpu };
    case 'progress':
      return s.phase === 'joining' ? { ...s, progress: a.progress, roundPhase: 'sync' } : s;
    case 'joined':
      return { ...s, phase: 'joined', progress: null, identity: a.identity, modelHash: a.modelHash, resumed: a.resumed };
    case 'status': {
      const roundPhase = PHASE_OF[a.status.phase];
      const newRound = s.participant?.round !== a.status.round;
      return { ...s, participant: a.status, roundPhase, stepsThisRound: newRound || roundPhase === 'sync' ? 0 : s.stepsThisRound };
    }
    case 'compress':
      return { ...s, roundPhase: 'compress' };
    case 'round':
      return { ...s, rounds: [...s.rounds, a.round], modelHash: a.round.modelHash };
    case 'saved':
      return { ...s, saved: a.saved, heldOut: [...s.heldOut, { step: a.saved.step, loss: a.saved.heldOutLoss }] };
    case 'links':
      // Reported every second: keep the same state (no re-render) while nothing changed.
      return sameLinks(s.links, a.links) ? s : { ...s, links: a.links };
    case 'step': {
      const losses = [...s.losses, { step: a.step.step, loss: a.step.loss }];
      return {
        ...s,
        step: a.step,
        stepsThisRound: s.stepsThisRound + 1,
        losses: losses.length > MAX_STEPS ? losses.slice(-MAX_STEPS) : losses,
      };
    }
    case 'paused':
      return { ...s, paused: a.paused };
    case 'finished':
      return s.phase === 'joined' ? { ...s, phase: 'finished', participant: null, roundPhase: null } : s;
    case 'left':
      return s.phase === 'error' ? s : { ...s, phase: 'left', progress: null, participant: null, roundPhase: null, paused: false };
    case 'failed':
      return { ...s, phase: 'error', progress: null, roundPhase: null, error: a.message, gpu: { ...s.gpu, recovering: false } };
    case 'gpu-lost':
      return { ...s, gpu: { ...s.gpu, lost: s.gpu.lost + 1, recovering: true, reason: a.reason } };
    case 'gpu-recovered':
      return { ...s, gpu: { ...s.gpu, recovered: s.gpu.recovered + 1, recovering: false, lastMs: a.ms } };
  }
}

function sameLinks(a: PeerLink[], b: PeerLink[]): boolean {
  const key = (links: PeerLink[]) =>
    links
      .map((l) => `${l.peer} ${l.kind} ${l.direction} ${l.remoteAddr} ${l.path ? JSON.stringify(l.path) : ''}`)
      .sort()
      .join('\n');
  return a.length === b.length && key(a) === key(b);
}
