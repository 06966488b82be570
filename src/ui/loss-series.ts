// The two loss curves every training view draws: inner-step training loss as a line, held-out
// loss (measured once a round) as points, both against the step.
import type { ChartSeries } from './Chart.tsx';

export interface LossPoint {
  step: number;
  loss: number;
}

export function lossSeries(train: readonly LossPoint[], heldOut: readonly LossPoint[]): ChartSeries[] {
  return [
    { label: 'training loss', color: '#2e6fdb', points: train.map((p) => ({ x: p.step, y: p.loss })) },
    { label: 'held-out loss', color: '#b34700', pointsOnly: true, points: heldOut.map((p) => ({ x: p.step, y: p.loss })) },
  ];
}
