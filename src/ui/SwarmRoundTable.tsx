// This tab's receipt for each round it took part in: the model hash the decision named (and the
// tab reached), what it sent, whether the decision included it, the Gauntlet's score for it after
// the round, and why it was left out when it was.
import type { ParticipantRound } from '../run/participant.ts';
import type { WallRound } from '../run/api.ts';

export function kilobytes(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

/** The hub's view of this hotkey in `round` (score, refusal), when the hub reports it. */
function receipt(rounds: readonly WallRound[], round: number, hotkey: string | null) {
  return hotkey ? rounds.find((r) => r.round === round)?.peers.find((p) => p.hotkey === hotkey) : undefined;
}

export function SwarmRoundTable({
  rounds,
  hubRounds = [],
  hotkey = null,
}: {
  rounds: ParticipantRound[];
  hubRounds?: readonly WallRound[];
  hotkey?: string | null;
}) {
  if (rounds.length === 0) return null;
  return (
    <div className="scroll" tabIndex={0} role="region" aria-label="This tab's receipts">
      <table className="rounds" data-testid="swarm-rounds">
        <caption>This tab's receipts</caption>
        <thead>
          <tr>
            <th scope="col">Round</th>
            <th scope="col">Model hash after</th>
            <th scope="col">Payload sent</th>
            <th scope="col">In the decision</th>
            <th scope="col">Score</th>
            <th scope="col">Payloads decided</th>
            <th scope="col">Fetched</th>
            <th scope="col">Peers (direct)</th>
          </tr>
        </thead>
        <tbody>
          {rounds.map((r) => {
            const hub = receipt(hubRounds, r.round, hotkey);
            const why = r.note ?? (hub?.rejected ? `the validator refused it (${hub.rejected})` : undefined);
            return (
              <tr
                key={r.round}
                data-testid="swarm-round-row"
                data-round={r.round}
                data-model-hash={r.modelHash}
                data-payload-hash={r.payloadHash ?? ''}
                data-included={String(r.included)}
                data-decision-size={r.decisionSize}
                data-fetched-from={Object.keys(r.fetchedFrom).join(' ')}
              >
                <td>{r.round}</td>
                <td>
                  <code title={r.modelHash}>{r.modelHash.slice(0, 12)}…</code>
                </td>
                <td>
                  {r.payloadHash ? (
                    <code title={r.payloadHash}>
                      {r.payloadHash.slice(0, 12)}… ({kilobytes(r.bytesUp)})
                    </code>
                  ) : (
                    'nothing'
                  )}
                </td>
                <td>
                  {r.included ? 'included' : 'not included'}
                  {why && `: ${why}`}
                </td>
                <td data-testid="receipt-score">{hub?.score === null || hub?.score === undefined ? '–' : hub.score.toFixed(4)}</td>
                <td>{r.decisionSize}</td>
                <td>{kilobytes(r.bytesDown)}</td>
                <td>
                  {r.peers} ({r.direct})
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
