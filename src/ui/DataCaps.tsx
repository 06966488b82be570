// The person's data caps on the dashboard: a limit per local day and month for what the tab uploads
// and downloads with the swarm, each beside what it has used so far, and, when one is used up,
// which, how much, and when the tab exchanges again. Limits are typed in megabytes (10⁶ bytes);
// empty means no limit.
import type { CapDirection, CapPeriod, CapReached } from '../client/data-caps.ts';
import type { DataCapsState } from './useDataCaps.ts';

const PERIOD_TEXT: Record<CapPeriod, { row: string; adjective: string }> = {
  day: { row: 'Today', adjective: 'daily' },
  month: { row: 'This month', adjective: 'monthly' },
};
const DIRECTION_TEXT: Record<CapDirection, { column: string; noun: string }> = {
  up: { column: 'Upload', noun: 'upload' },
  down: { column: 'Download', noun: 'download' },
};
const MB = 1_000_000;

/** Bytes in B, kB, MB or GB (powers of 1000, as the limits are typed). */
function formatBytes(bytes: number): string {
  if (bytes < 1_000) return `${bytes} B`;
  if (bytes < MB) return `${(bytes / 1_000).toFixed(1)} kB`;
  if (bytes < 1_000 * MB) return `${(bytes / MB).toFixed(2)} MB`;
  return `${(bytes / (1_000 * MB)).toFixed(2)} GB`;
}

/** Why the tab is paused at its caps, in a sentence: which, how much, and when it exchanges again. */
export function capReachedText(reached: readonly CapReached[]): string {
  const caps = reached.map(
    (r) =>
      `its ${PERIOD_TEXT[r.period].adjective} ${DIRECTION_TEXT[r.direction].noun} cap (${formatBytes(r.used)} of ${formatBytes(r.limit)})`,
  );
  const resumesAt = Math.max(...reached.map((r) => r.resumesAt));
  const when = new Date(resumesAt).toLocaleString(undefined, {
    weekday: 'short',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
  });
  return `this tab used up ${caps.join(' and ')}. It exchanges nothing more with the swarm until ${when} (local time), keeping its model, optimizer state and error feedback, and resumes then.`;
}

export function DataCaps({ caps }: { caps: DataCapsState }) {
  const resumesAt = caps.reached.length > 0 ? Math.max(...caps.reached.map((r) => r.resumesAt)) : '';
  return (
    <fieldset
      data-testid="data-caps"
      data-reached={caps.reached.map((r) => `${r.period}-${r.direction}`).join(' ')}
      data-resumes-at={resumesAt}
    >
      <legend>Data caps</legend>
      <p className="hint">
        What this tab uploads and downloads with the swarm (payloads and checkpoints), counted in this browser across reloads, per day and
        month of your local time. At a cap it pauses, keeping its state, and resumes when the day or month turns. Limits in MB; empty means
        none.
      </p>
      {typeof caps.storage === 'object' && <p className="hint">This browser keeps no count across reloads: {caps.storage.unavailable}</p>}
      <table className="data-caps">
        <thead>
          <tr>
            <th scope="col">Period</th>
            <th scope="col">{DIRECTION_TEXT.up.column}</th>
            <th scope="col">{DIRECTION_TEXT.down.column}</th>
          </tr>
        </thead>
        <tbody>
          {(['day', 'month'] as const).map((period) => (
            <tr key={period}>
              <th scope="row">{PERIOD_TEXT[period].row}</th>
              {(['up', 'down'] as const).map((direction) => {
                const limit = caps.caps[period][direction];
                const label = `${DIRECTION_TEXT[direction].column} cap per ${period} (MB)`;
                return (
                  <td
                    key={direction}
                    data-testid={`cap-${period}-${direction}`}
                    data-used={caps.usage[period][direction]}
                    data-limit={limit ?? ''}
                  >
                    {formatBytes(caps.usage[period][direction])} of{' '}
                    <input
                      // Remounted once the stored caps are read, so that the field shows them.
                      key={String(caps.loaded)}
                      type="number"
                      min={0}
                      step="any"
                      aria-label={label}
                      title={label}
                      defaultValue={limit === null ? '' : limit / MB}
                      disabled={!caps.loaded}
                      onChange={(e) => {
                        const text = e.target.value.trim();
                        const mb = Number(text);
                        if (text === '') caps.setLimit(period, direction, null);
                        else if (Number.isFinite(mb) && mb >= 0) caps.setLimit(period, direction, Math.round(mb * MB));
                      }}
                    />{' '}
                    MB
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </fieldset>
  );
}
