// The tab's training lifecycle as one reducer: every button and label derives from it.
import type { SessionInfo, TrainEvent } from '../client/worker.ts';

export type Phase = 'idle' | 'loading' | 'ready' | 'training' | 'paused' | 'stopping' | 'error';

export interface LossPoint {
  step: number;
  loss: number;
}

export interface TrainingState {
  phase: Phase;
  info: SessionInfo | null;
  losses: LossPoint[];
  heldOut: LossPoint[];
  tokensPerSecond: number;
  error: string | null;
  checkpoint: { step: number; modelHash: string; heldOutLoss: number; url: string } | null;
}

export type TrainingAction =
  | { type: 'load' }
  | { type: 'loaded'; info: SessionInfo }
  | { type: 'start' }
  | { type: 'event'; event: TrainEvent }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'stop' }
  | { type: 'finished' }
  | { type: 'checkpoint'; checkpoint: NonNullable<TrainingState['checkpoint']> }
  | { type: 'failed'; message: string };

export const initialTraining: TrainingState = { phase: 'idle', info: null, losses: [], heldOut: [], tokensPerSecond: 0, error: null, checkpoint: null };

export function trainingReducer(s: TrainingState, a: TrainingAction): TrainingState {
  switch (a.type) {
    case 'load':
      return { ...s, phase: 'loading', error: null };
    case 'loaded':
      return { ...s, phase: 'ready', info: a.info };
    case 'start':
      return s.phase === 'ready' ? { ...s, phase: 'training' } : s;
    case 'event':
      if (a.event.kind === 'step') {
        return { ...s, losses: [...s.losses, { step: a.event.step, loss: a.event.loss }], tokensPerSecond: a.event.tokensPerSecond };
      }
      return { ...s, heldOut: [...s.heldOut, { step: a.event.step, loss: a.event.loss }] };
    case 'pause':
      return s.phase === 'training' ? { ...s, phase: 'paused' } : s;
    case 'resume':
      return s.phase === 'paused' ? { ...s, phase: 'training' } : s;
    case 'stop':
      return s.phase === 'training' || s.phase === 'paused' ? { ...s, phase: 'stopping' } : s;
    case 'finished':
      return { ...s, phase: 'ready' };
    case 'checkpoint':
      return { ...s, checkpoint: a.checkpoint };
    case 'failed':
      return { ...s, phase: 'error', error: a.message };
  }
}
