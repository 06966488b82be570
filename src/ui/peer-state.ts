// How the wall words what a peer says of itself (GET /api/wall, `peers[].status`): "training",
// or "paused" with the reasons a person understands, plus what slows it. It is the peer's own
// word, so a claim older than five minutes says it may be out of date.
import type { WallPeerStatus } from '../run/api.ts';

const REASONS: Record<string, string> = {
  user: 'by its person',
  hidden: 'its tab is hidden',
  battery: 'on battery',
  heat: 'too hot',
  idle: 'its person is at the computer (idle-only)',
  cap: 'at its data cap',
  gpu: 'recovering a lost GPU',
};

export function peerStateText(status: WallPeerStatus | null): string {
  if (!status) return '';
  const parts: string[] = [];
  if (status.state === 'paused') parts.push(`paused: ${status.reasons.map((r) => REASONS[r] ?? r).join(', ')}`);
  else if (status.state === 'left') parts.push('left');
  else parts.push(status.intensity < 100 ? `training at ${status.intensity}%` : 'training');
  if (status.pressure === 'serious' || status.pressure === 'critical') parts.push(`${status.pressure} pressure`);
  if (status.gpuBusy !== null && status.state !== 'left') parts.push(`GPU busy ${(status.gpuBusy / 10).toFixed(1)}%`);
  if (status.gpuRecoveries > 0) parts.push(`${status.gpuRecoveries} GPU ${status.gpuRecoveries === 1 ? 'recovery' : 'recoveries'}`);
  return parts.join('; ') + (status.stale ? ' (said over 5 minutes ago)' : '');
}
