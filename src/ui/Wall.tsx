// The swarm wall (/#/wall), for a conference screen: the whole run at a glance, readable from
// across a room and live (useWall polls the hub every two seconds). Big numbers first (round,
// peers, rounds decided, loss, bytes sent and how much smaller than dense), then every peer with
// its rounds, inclusions, score and bytes, then the latest rounds. It only reads the hub's API:
// no GPU worker, no swarm node.
import { Chart, type ChartSeries } from './Chart.tsx';
import { peerStateText } from './peer-state.ts';
import { useWall, type WallPeer, type WallRound, type WallView } from './useWall.ts';

/** A byte count as a number and its unit (B, KiB, MiB, GiB). */
function bytesIn(bytes: number): [string, string] {
  if (bytes < 1024) return [String(bytes), 'B'];
  if (bytes < 1024 * 1024) return [(bytes / 1024).toFixed(1), 'KiB'];
  if (bytes < 1024 * 1024 * 1024) return [(bytes / 1024 / 1024).toFixed(1), 'MiB'];
  return [(bytes / 1024 / 1024 / 1024).toFixed(2), 'GiB'];
}

function formatBytes(bytes: number): string {
  return bytesIn(bytes).join(' ');
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function shortKey(key: string): string {
  return key.length > 14 ? `${key.slice(0, 6)}…${key.slice(-4)}` : key;
}

function formatScore(score: number | null): string {
  return score === null ? '—' : score.toFixed(3);
}

export function Wall() {
  const wall = useWall();
  return (
    <main className="wall" data-testid="wall" data-status={wall.status} aria-labelledby="wall-title">
      <header className="wall-header">
        <h1 id="wall-title">WebLoCo swarm</h1>
        {wall.status === 'live' && <RunLine view={wall.view} updatedAt={wall.updatedAt} stale={wall.stale} />}
      </header>
      {wall.status === 'loading' && <p className="wall-message">Connecting to the hub…</p>}
      {wall.status === 'no-hub' && (
        <div className="wall-message" role="status" data-testid="wall-no-hub">
          <p>No swarm to show: {wall.reason}.</p>
          <p>
            The wall shows the run of the hub that serves this page. Start one with <code>npm start</code> (or a whole local swarm with{' '}
            <code>npm run demo</code>) and open its address followed by <code>/#/wall</code>.
          </p>
        </div>
      )}
      {wall.status === 'live' && <WallBody view={wall.view} />}
    </main>
  );
}

function RunLine({ view, updatedAt, stale }: { view: WallView; updatedAt: number; stale: string | null }) {
  return (
    <p className="wall-run">
      Run <code>{view.runId}</code> · {view.preset} model ·{' '}
      {view.validator === 'gauntlet' ? 'scored by the Gauntlet' : 'every valid payload taken'} ·{' '}
      <span className={stale ? 'wall-stale' : 'wall-live'} data-testid="wall-live">
        {stale ? `not updating: ${stale}` : `live, updated ${new Date(updatedAt).toLocaleTimeString()}`}
      </span>
    </p>
  );
}

function WallBody({ view }: { view: WallView }) {
  const decided = view.rounds.filter((r) => r.decided);
  const latestLoss = view.loss.at(-1);
  const sent = view.peers.reduce((sum, p) => sum + p.bytes, 0);
  const payloads = view.peers.reduce((sum, p) => sum + p.rounds, 0);
  const online = view.peers.filter((p) => p.online).length;
  const ratio = payloads > 0 && sent > 0 ? (view.denseBytes * payloads) / sent : null;
  const roundSeconds = (view.blocksPerRound * view.blockTimeMs) / 1000;
  return (
    <>
      <section aria-labelledby="wall-glance-title">
        <h2 id="wall-glance-title" className="wall-visually-hidden">
          The swarm at a glance
        </h2>
        <dl className="wall-stats">
          <Stat
            label="Round"
            value={String(view.round)}
            note={`${view.blocksLeft} of ${view.blocksPerRound} blocks left · ${roundSeconds.toFixed(0)} s a round`}
            testId="wall-round"
          />
          <Stat
            label="Peers"
            value={String(view.peers.length)}
            note={`${online} online · ${view.connectedPeers} connected to the hub`}
            testId="wall-peer-count"
          />
          <Stat
            label="Rounds decided"
            value={String(view.decidedRounds)}
            note={decided.at(-1) ? `last: ${plural(decided.at(-1)!.peers.filter((p) => p.included).length, 'payload')} taken` : 'none yet'}
            testId="wall-decided"
          />
          <Stat
            label="Loss"
            value={latestLoss ? latestLoss.loss.toFixed(3) : '—'}
            note={latestLoss ? `the validator's, round ${latestLoss.round}` : 'after the first scored round'}
            testId="wall-loss"
          />
          <Stat
            label="Sent"
            value={bytesIn(sent)[0]}
            unit={bytesIn(sent)[1]}
            note={ratio ? `${ratio.toFixed(0)}× smaller than dense` : plural(payloads, 'payload')}
            testId="wall-bytes"
          />
          <Stat
            label="GPUs busy"
            value={view.gpuBusy ? `${(view.gpuBusy.mean * 100).toFixed(1)}` : '—'}
            unit={view.gpuBusy ? '%' : undefined}
            note={
              view.gpuBusy
                ? `of the time since joining, as ${plural(view.gpuBusy.peers, 'peer')} said`
                : 'after a peer says, at the end of its first round'
            }
            testId="wall-gpu-busy"
          />
        </dl>
      </section>
      <LossByRound loss={view.loss} />
      <PeerTable peers={view.peers} />
      <RoundTable rounds={view.rounds} current={view.round} />
    </>
  );
}

function Stat({ label, value, unit, note, testId }: { label: string; value: string; unit?: string; note: string; testId: string }) {
  return (
    <div className="wall-stat">
      <dt>{label}</dt>
      <dd data-testid={testId}>
        <span className="wall-stat-value">
          {value}
          {unit && <span className="wall-stat-unit"> {unit}</span>}
        </span>
        <span className="wall-stat-note">{note}</span>
      </dd>
    </div>
  );
}

function LossByRound({ loss }: { loss: WallView['loss'] }) {
  if (loss.length === 0) return null;
  const series: ChartSeries[] = [
    { label: "the validator's loss", color: '#1f5fc4', points: loss.map((l) => ({ x: l.round, y: l.loss })), pointsOnly: loss.length < 3 },
  ];
  return (
    <section className="wall-section wall-chart" aria-label="Loss by round">
      <Chart series={series} title="The validator's loss of the global model, by round" xLabel="round" height={260} />
    </section>
  );
}

function PeerTable({ peers }: { peers: WallPeer[] }) {
  return (
    <section className="wall-section" aria-labelledby="wall-peers-title">
      <h2 id="wall-peers-title">Peers</h2>
      {peers.length === 0 ? (
        <p className="wall-message">No peer has joined yet: open the hub's page in a browser and join.</p>
      ) : (
        <div className="wall-scroll" tabIndex={0} role="region" aria-labelledby="wall-peers-title">
          <table className="wall-table" data-testid="wall-peers">
            <thead>
              <tr>
                <th scope="col">Peer</th>
                <th scope="col">Status</th>
                <th scope="col" className="wall-num">
                  Rounds
                </th>
                <th scope="col" className="wall-num">
                  Included
                </th>
                <th scope="col" className="wall-num">
                  Score
                </th>
                <th scope="col" className="wall-num">
                  Sent
                </th>
              </tr>
            </thead>
            <tbody>
              {peers.map((p) => (
                <tr
                  key={p.hotkey}
                  data-testid="wall-peer"
                  data-hotkey={p.hotkey}
                  data-online={String(p.online)}
                  data-rounds={p.rounds}
                  data-included={p.included}
                  data-state={p.status?.state ?? ''}
                  data-reasons={p.status?.reasons.join(' ') ?? ''}
                >
                  <th scope="row">
                    <code title={`hotkey ${p.hotkey}, peer ${p.peerId}`}>{shortKey(p.hotkey)}</code>
                  </th>
                  <td>
                    <span className={p.online ? 'wall-online' : 'wall-offline'}>{p.online ? '● online' : '○ away'}</span>
                    {p.status && <span className="wall-peer-state"> {peerStateText(p.status)}</span>}
                  </td>
                  <td className="wall-num">{p.rounds}</td>
                  <td className="wall-num">{p.included}</td>
                  <td className="wall-num">{formatScore(p.score)}</td>
                  <td className="wall-num">{formatBytes(p.bytes)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function RoundTable({ rounds, current }: { rounds: WallRound[]; current: number }) {
  const newestFirst = [...rounds].reverse().slice(0, 12);
  return (
    <section className="wall-section" aria-labelledby="wall-rounds-title">
      <h2 id="wall-rounds-title">Rounds</h2>
      <div className="wall-scroll" tabIndex={0} role="region" aria-labelledby="wall-rounds-title">
        <table className="wall-table" data-testid="wall-rounds">
          <thead>
            <tr>
              <th scope="col">Round</th>
              <th scope="col">Status</th>
              <th scope="col" className="wall-num">
                Payloads
              </th>
              <th scope="col" className="wall-num">
                Taken
              </th>
              <th scope="col" className="wall-num">
                Loss
              </th>
              <th scope="col" className="wall-num">
                Bytes
              </th>
            </tr>
          </thead>
          <tbody>
            {newestFirst.map((r) => {
              const taken = r.peers.filter((p) => p.included).length;
              const refused = r.peers.filter((p) => p.rejected).map((p) => `${shortKey(p.hotkey)}: ${p.rejected}`);
              return (
                <tr
                  key={r.round}
                  data-testid="wall-round-row"
                  data-round={r.round}
                  data-decided={String(r.decided)}
                  data-taken={taken}
                  data-loss={r.loss ?? ''}
                >
                  <th scope="row">{r.round}</th>
                  <td>
                    {r.decided ? (
                      <span className="wall-online">✓ decided</span>
                    ) : (
                      <span className="wall-open">{r.round === current ? 'in progress' : 'being decided'}</span>
                    )}
                    {refused.length > 0 && <span className="wall-stat-note">refused {refused.join(', ')}</span>}
                  </td>
                  <td className="wall-num">{r.peers.length}</td>
                  <td className="wall-num">{r.decided ? taken : '—'}</td>
                  <td className="wall-num">{r.loss === null ? '—' : r.loss.toFixed(3)}</td>
                  <td className="wall-num">{formatBytes(r.bytes)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}
