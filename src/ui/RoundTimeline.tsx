// The round in progress as six phases with a bar each: sync (load or replay the model), train (H
// inner steps), compress (error feedback, top-k, encode), upload (announce and commit), decision
// (the chain's round closes and the validator decides) and apply (fetch the decided payloads,
// take the outer step). Training's bar counts steps; the decision's counts the chain's blocks.
import { ROUND_PHASES, type RoundPhase } from './swarm-state.ts';

const LABELS: Record<RoundPhase, string> = {
  sync: 'Sync',
  train: 'Train',
  compress: 'Compress',
  upload: 'Upload',
  decision: 'Decision',
  apply: 'Apply',
};

export function RoundTimeline({
  round,
  phase,
  paused,
  stepsDone,
  innerSteps,
  blocks,
}: {
  round: number | null;
  phase: RoundPhase | null;
  paused: boolean;
  stepsDone: number;
  innerSteps: number;
  /** Blocks of the chain's current round gone by, and its length. */
  blocks: { done: number; total: number } | null;
}) {
  const at = phase ? ROUND_PHASES.indexOf(phase) : -1;
  const fraction = (p: RoundPhase, i: number): number => {
    if (i < at) return 1;
    if (i > at) return 0;
    if (p === 'train') return Math.min(1, stepsDone / Math.max(1, innerSteps));
    if (p === 'decision' && blocks) return Math.min(1, blocks.done / Math.max(1, blocks.total));
    return 0.5;
  };
  return (
    <section aria-labelledby="timeline-title" data-testid="round-timeline" data-phase={phase ?? ''} data-paused={String(paused)}>
      <h3 id="timeline-title">
        {round === null ? 'Round' : `Round ${round}`}
        {paused && <span className="badge">paused</span>}
      </h3>
      <ol className="timeline">
        {ROUND_PHASES.map((p, i) => {
          const value = fraction(p, i);
          const state = i < at ? 'done' : i === at ? 'active' : 'waiting';
          const label = `${LABELS[p]}${p === 'train' && i === at ? ` ${stepsDone}/${innerSteps} steps` : ''}`;
          return (
            <li key={p} className={`phase ${state}`} data-testid={`phase-${p}`} data-state={state}>
              <span>{label}</span>
              <progress
                max={1}
                value={value}
                aria-label={`${LABELS[p]}: ${state === 'done' ? 'done' : state === 'active' ? `${Math.round(value * 100)}%` : 'not started'}`}
              />
            </li>
          );
        })}
      </ol>
    </section>
  );
}
