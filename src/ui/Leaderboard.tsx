// The Gauntlet's standings as the hub reports them (GET /api/wall): best final score first, this
// tab's hotkey marked. Without a Gauntlet (a take-all hub) it says that every payload counts.
import type { WallPeer } from '../run/api.ts';

export function Leaderboard({
  peers,
  validator,
  you,
  limit = 10,
}: {
  peers: WallPeer[];
  validator: 'gauntlet' | 'take-all';
  you: string | null;
  limit?: number;
}) {
  const ranked = [...peers].sort((a, b) => (b.score ?? -Infinity) - (a.score ?? -Infinity) || b.included - a.included).slice(0, limit);
  return (
    <div className="scroll" tabIndex={0} role="region" aria-label="Leaderboard">
      <table className="rounds" data-testid="leaderboard">
        <caption>
          {validator === 'gauntlet' ? 'Gauntlet leaderboard' : 'Peers (this hub takes every payload that decodes: no scores)'}
        </caption>
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">Hotkey</th>
            <th scope="col">Score</th>
            <th scope="col">Included</th>
            <th scope="col">Online</th>
          </tr>
        </thead>
        <tbody>
          {ranked.map((p, i) => (
            <tr
              key={p.hotkey}
              data-testid="leaderboard-row"
              data-you={String(p.hotkey === you)}
              className={p.hotkey === you ? 'you' : undefined}
            >
              <td>{i + 1}</td>
              <td>
                <code title={p.hotkey}>{p.hotkey.slice(0, 10)}…</code>
                {p.hotkey === you && ' (you)'}
              </td>
              <td>{p.score === null ? '–' : p.score.toFixed(4)}</td>
              <td>
                {p.included}/{p.rounds}
              </td>
              <td>{p.online ? 'yes' : 'no'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
