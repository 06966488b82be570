// The tab's life in a swarm as one reducer: choosing a hotkey, joining (each step named), taking
// part in rounds, and how it ended. Every label and button of the swarm panel derives from it.
import type { ParticipantRound } from '../client/participant.ts';
import type { ParticipantStatus, SessionSummary } from '../client/swarm-client.ts';
import type { PeerLink } from '../swarm/swarm.ts';

export type SwarmPhase = 'idle' | 'joining' | 'joined' | 'finished' | 'left' | 'error';

export interface SwarmState {
  phase: SwarmPhase;
  /** What the join is waiting for, while joining. */
  progress: string | null;
  /** Who this tab is in the swarm, once joined. */
  identity: { peerId: string; hubPeerId: string; session: SessionSummary } | null;
  /** The participant's current round and what it is doing in it. */
  participant: ParticipantStatus | null;
  /** H of the model this tab holds, after joining and after each round. */
  modelHash: string | null;
  rounds: ParticipantRound[];
  links: PeerLink[];
  /** The latest inner step the worker took. */
  step: { step: number; loss: number; tokensPerSecond: number } | null;
  error: string | null;
}

export type SwarmAction =
  | { type: 'join' }
  | { type: 'progress'; progress: string }
  | { type: 'joined'; identity: NonNullable<SwarmState['identity']>; modelHash: string }
  | { type: 'status'; status: ParticipantStatus }
  | { type: 'round'; round: ParticipantRound }
  | { type: 'links'; links: PeerLink[] }
  | { type: 'step'; step: NonNullable<SwarmState['step']> }
  | { type: 'finished' }
  | { type: 'left' }
  | { type: 'failed'; message: string };

export const initialSwarm: SwarmState = { phase: 'idle', progress: null, identity: null, participant: null, modelHash: null, rounds: [], links: [], step: null, error: null };

export function swarmReducer(s: SwarmState, a: SwarmAction): SwarmState {
  switch (a.type) {
    case 'join':
      return { ...initialSwarm, phase: 'joining', links: s.links };
    case 'progress':
      return s.phase === 'joining' ? { ...s, progress: a.progress } : s;
    case 'joined':
      return { ...s, phase: 'joined', progress: null, identity: a.identity, modelHash: a.modelHash };
    case 'status':
      return { ...s, participant: a.status };
    case 'round':
      return { ...s, rounds: [...s.rounds, a.round], modelHash: a.round.modelHash };
    case 'links':
      // Reported every second: keep the same state (no re-render) while nothing changed.
      return sameLinks(s.links, a.links) ? s : { ...s, links: a.links };
    case 'step':
      return { ...s, step: a.step };
    case 'finished':
      return s.phase === 'joined' ? { ...s, phase: 'finished', participant: null } : s;
    case 'left':
      return s.phase === 'error' ? s : { ...s, phase: 'left', progress: null, participant: null };
    case 'failed':
      return { ...s, phase: 'error', progress: null, error: a.message };
  }
}

function sameLinks(a: PeerLink[], b: PeerLink[]): boolean {
  const key = (links: PeerLink[]) => links.map((l) => `${l.peer} ${l.kind} ${l.direction} ${l.remoteAddr}`).sort().join('\n');
  return a.length === b.length && key(a) === key(b);
}
