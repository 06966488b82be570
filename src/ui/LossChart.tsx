// A small SVG chart of training loss (and held-out loss as dots) against steps.
import type { LossPoint } from './training-state.ts';

export function LossChart({ losses, heldOut, width = 560, height = 180 }: { losses: LossPoint[]; heldOut: LossPoint[]; width?: number; height?: number }) {
  const all = [...losses, ...heldOut];
  if (all.length === 0) return <svg width={width} height={height} role="img" aria-label="loss chart (no data yet)" />;
  const maxStep = Math.max(...all.map((p) => p.step), 1);
  const lo = Math.min(...all.map((p) => p.loss));
  const hi = Math.max(...all.map((p) => p.loss));
  const pad = 24;
  const x = (step: number) => pad + ((width - 2 * pad) * step) / maxStep;
  const y = (loss: number) => pad + ((height - 2 * pad) * (hi - loss)) / Math.max(hi - lo, 1e-6);
  const path = losses.map((p, i) => `${i ? 'L' : 'M'}${x(p.step).toFixed(1)},${y(p.loss).toFixed(1)}`).join(' ');
  return (
    <svg width={width} height={height} role="img" aria-label="loss chart" className="chart">
      <text x={pad} y={14} fontSize="11">{hi.toFixed(2)}</text>
      <text x={pad} y={height - 6} fontSize="11">{lo.toFixed(2)}</text>
      <path d={path} fill="none" stroke="#2e6fdb" strokeWidth="1.5" />
      {heldOut.map((p) => (
        <circle key={p.step} cx={x(p.step)} cy={y(p.loss)} r="3" fill="#d35400" />
      ))}
    </svg>
  );
}
