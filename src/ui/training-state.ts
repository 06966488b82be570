// The tab's training lifecycle as one reducer: every button and label derives from it.
import type { RoundSummary, PeerInfo, TrainEvent } from '../client/worker.ts';
import type { LossPoint } from './loss-series.ts';

export type Phase = 'idle' | 'loading' | 'ready' | 'training' | 'paused' | 'stopping' | 'finished' | 'error';

export type { LossPoint };

export interface TrainingState {
  phase: Phase;
  info: PeerInfo | null;
  /** Inner training loss at every step. */
  losses: LossPoint[];
  /** Held-out loss of the model after each round's outer step, at the step the round ended. */
  heldOut: LossPoint[];
  rounds: RoundSummary[];
  tokensPerSecond: number;
  error: string | null;
  checkpoint: { step: number; modelHash: string; heldOutLoss: number; url: string } | null;
}

export type TrainingAction =
  | { type: 'load' }
  | { type: 'loaded'; info: PeerInfo }
  | { type: 'start' }
  | { type: 'event'; event: TrainEvent }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'stop' }
  | { type: 'stopped'; runComplete: boolean }
  | { type: 'checkpoint'; checkpoint: NonNullable<TrainingState['checkpoint']> }
  | { type: 'failed'; message: string };

export const initialTraining: TrainingState = {
  phase: 'idle',
  info: null,
  losses: [],
  heldOut: [],
  rounds: [],
  tokensPerSecond: 0,
  error: null,
  checkpoint: null,
};

export function trainingReducer(s: TrainingState, a: TrainingAction): TrainingState {
  switch (a.type) {
    case 'load':
      return { ...initialTraining, phase: 'loading' };
    case 'loaded':
      return { ...s, phase: 'ready', info: a.info };
    case 'start':
      return s.phase === 'ready' ? { ...s, phase: 'training' } : s;
    case 'event': {
      const e = a.event;
      if (e.kind === 'step') return { ...s, losses: [...s.losses, { step: e.step, loss: e.loss }], tokensPerSecond: e.tokensPerSecond };
      if (e.kind !== 'round') return s;
      const step = s.info ? (e.round + 1) * s.info.innerSteps : (s.losses.at(-1)?.step ?? 0);
      return { ...s, rounds: [...s.rounds, e], heldOut: [...s.heldOut, { step, loss: e.heldOutLoss }] };
    }
    case 'pause':
      return s.phase === 'training' ? { ...s, phase: 'paused' } : s;
    case 'resume':
      return s.phase === 'paused' ? { ...s, phase: 'training' } : s;
    case 'stop':
      return s.phase === 'training' || s.phase === 'paused' ? { ...s, phase: 'stopping' } : s;
    case 'stopped':
      return { ...s, phase: a.runComplete ? 'finished' : 'ready' };
    case 'checkpoint':
      return { ...s, checkpoint: a.checkpoint };
    case 'failed':
      return { ...s, phase: 'error', error: a.message };
  }
}
