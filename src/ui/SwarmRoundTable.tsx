// One row per round this tab took part in: the model hash the decision named (and the tab
// reached), what the tab sent, and whether the decision included it and, if not, why.
import type { ParticipantRound } from '../client/participant.ts';

function kilobytes(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

export function SwarmRoundTable({ rounds }: { rounds: ParticipantRound[] }) {
  if (rounds.length === 0) return null;
  return (
    <table className="rounds" data-testid="swarm-rounds">
      <caption>This tab's rounds</caption>
      <thead>
        <tr>
          <th scope="col">Round</th>
          <th scope="col">Model hash after</th>
          <th scope="col">Payload sent</th>
          <th scope="col">In the decision</th>
          <th scope="col">Payloads decided</th>
          <th scope="col">Fetched</th>
          <th scope="col">Peers (direct)</th>
        </tr>
      </thead>
      <tbody>
        {rounds.map((r) => (
          <tr
            key={r.round}
            data-testid="swarm-round-row"
            data-round={r.round}
            data-model-hash={r.modelHash}
            data-payload-hash={r.payloadHash ?? ''}
            data-included={String(r.included)}
            data-decision-size={r.decisionSize}
          >
            <td>{r.round}</td>
            <td>
              <code title={r.modelHash}>{r.modelHash.slice(0, 12)}…</code>
            </td>
            <td>{r.payloadHash ? <code title={r.payloadHash}>{r.payloadHash.slice(0, 12)}… ({kilobytes(r.bytesUp)})</code> : 'nothing'}</td>
            <td>
              {r.included ? 'included' : 'not included'}
              {r.note && `: ${r.note}`}
            </td>
            <td>{r.decisionSize}</td>
            <td>{kilobytes(r.bytesDown)}</td>
            <td>
              {r.peers} ({r.direct})
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
