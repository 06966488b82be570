// The tab as a Gauntlet validator of its hub's run: a button to start, what it is doing, and one
// row per round the chain decided: what was committed and decided, what this tab would gather,
// whether that is the decision, what it rejected and why, whom it ranks first, and whether the
// chain's decision gives the model hash it names.
import type { ValidatedRound } from '../client/validator-client.ts';
import type { ValidatorState } from './useValidator.ts';

function short(hash: string): string {
  return `${hash.slice(0, 10)}…`;
}

export function ValidatorPanel({
  state,
  canStart,
  blockedBy,
  start,
  stop,
}: {
  state: ValidatorState;
  canStart: boolean;
  blockedBy: string | null;
  start: () => void;
  stop: () => void;
}) {
  const active = state.phase === 'starting' || state.phase === 'validating';
  return (
    <section className="validator" data-testid="validator" data-phase={state.phase} aria-labelledby="validator-title">
      <h3 id="validator-title">Validate this run</h3>
      <p>
        Instead of training, this tab can check the run's validator: it judges every round's committed payloads with the Gauntlet on its own
        GPU (with evaluation seeds of its own), follows the chain's decision and checks the model hash it names. A tab either trains or
        validates.
        {blockedBy && ` ${blockedBy}`}
      </p>
      <p className="buttons">
        {!active && (
          <button onClick={start} disabled={!canStart}>
            Validate this run
          </button>
        )}
        {state.phase === 'validating' && <button onClick={stop}>Stop validating</button>}
      </p>
      {state.error && (
        <p role="alert" className="error-text" data-testid="validator-error">
          {state.error}
        </p>
      )}
      <p data-testid="validator-status" aria-live="polite">
        {state.phase === 'starting' && <>Starting: {state.progress ?? 'starting'}…</>}
        {state.phase === 'validating' && (
          <>
            Validating from round {state.startRound}: {state.progress ?? 'working'}…
          </>
        )}
        {state.phase === 'stopped' && `Stopped after judging ${state.rounds.length} round${state.rounds.length === 1 ? '' : 's'}.`}
      </p>
      <ValidatorRoundTable rounds={state.rounds} />
    </section>
  );
}

function ValidatorRoundTable({ rounds }: { rounds: ValidatedRound[] }) {
  if (rounds.length === 0) return null;
  return (
    <table className="rounds" data-testid="validator-rounds">
      <caption>Rounds this tab judged</caption>
      <thead>
        <tr>
          <th scope="col">Round</th>
          <th scope="col">Committed</th>
          <th scope="col">Decided</th>
          <th scope="col">Gathered by this tab</th>
          <th scope="col">Agrees with the decision</th>
          <th scope="col">Model hash</th>
          <th scope="col">This tab's evaluation</th>
          <th scope="col">Rejected</th>
          <th scope="col">This tab's top hotkeys</th>
        </tr>
      </thead>
      <tbody>
        {rounds.map((r) => (
          <tr
            key={r.round}
            data-testid="validator-round-row"
            data-round={r.round}
            data-committed={r.committed}
            data-decided={r.decided}
            data-gathered={r.gathered.length}
            data-decided-also-gathered={r.decidedAlsoGathered}
            data-agrees={String(r.agrees)}
            data-model-hash={r.modelHash}
            data-model-hash-matches={String(r.modelHashMatches)}
          >
            <td>{r.round}</td>
            <td>{r.committed}</td>
            <td>{r.decided}</td>
            <td>
              {r.gathered.length === 0
                ? 'none'
                : r.gathered.map((h) => (
                    <code key={h} title={h}>
                      {short(h)}{' '}
                    </code>
                  ))}
            </td>
            <td>{r.agrees ? 'yes' : `no (${r.decidedAlsoGathered} of the ${r.decided} decided)`}</td>
            <td>
              <code title={r.modelHash}>{short(r.modelHash)}</code>{' '}
              {r.modelHashMatches ? 'as decided' : `but the decision names ${short(r.decidedModelHash)}`}
            </td>
            <td data-testid="validator-evaluated">
              {r.evaluated.length === 0
                ? 'nobody'
                : r.evaluated.map((e) => (
                    <span key={e.hotkey} data-hotkey={e.hotkey} data-gradient-score={e.gradientScore} data-binary={e.binary}>
                      <code title={e.hotkey}>{short(e.hotkey)}</code> loss {e.gradientScore >= 0 ? '−' : '+'}
                      {Math.abs(e.gradientScore * 100).toFixed(2)}% ({e.binary > 0 ? 'more' : 'less'} on its own data){' '}
                    </span>
                  ))}
            </td>
            <td>{r.rejected.length === 0 ? 'none' : r.rejected.map((x) => `${short(x.peer)}: ${x.reason}`).join('; ')}</td>
            <td>
              {r.top.length === 0
                ? 'nobody yet'
                : r.top.map((t) => (
                    <span key={t.hotkey}>
                      <code title={t.hotkey}>{short(t.hotkey)}</code> ({t.final.toFixed(3)}){' '}
                    </span>
                  ))}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
