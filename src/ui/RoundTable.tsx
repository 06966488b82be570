// One row per finished round: what the tab would send a swarm (payload bytes, how much smaller
// than the dense model, its hash) and the model hash the outer step arrived at.
import type { RoundSummary } from '../client/worker.ts';

function kilobytes(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

export function RoundTable({ rounds }: { rounds: RoundSummary[] }) {
  if (rounds.length === 0) return null;
  return (
    <table className="rounds" data-testid="rounds">
      <caption>Rounds</caption>
      <thead>
        <tr>
          <th scope="col">Round</th>
          <th scope="col">Inner loss</th>
          <th scope="col">Held-out loss</th>
          <th scope="col">Payload</th>
          <th scope="col">vs dense</th>
          <th scope="col">Payload hash</th>
          <th scope="col">Model hash</th>
        </tr>
      </thead>
      <tbody>
        {rounds.map((r) => (
          <tr
            key={r.round}
            data-testid="round-row"
            data-round={r.round}
            data-payload-hash={r.payloadHash}
            data-model-hash={r.modelHash}
            data-payload-bytes={r.payloadBytes}
            data-heldout-loss={r.heldOutLoss}
          >
            <td>{r.round}</td>
            <td>{r.meanInnerLoss.toFixed(4)}</td>
            <td>{r.heldOutLoss.toFixed(4)}</td>
            <td>{r.payloadBytes > 0 ? kilobytes(r.payloadBytes) : 'none (null round)'}</td>
            <td>{r.compressionRatio > 0 ? `${r.compressionRatio.toFixed(1)}× smaller` : '–'}</td>
            <td>
              <code title={r.payloadHash}>{r.payloadHash.slice(0, 12)}…</code>
            </td>
            <td>
              <code title={r.modelHash}>{r.modelHash.slice(0, 12)}…</code>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
