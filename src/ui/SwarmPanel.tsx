// Train with the swarm of the hub that served this page: pick a hotkey (a wallet account, or a
// burner key for a demo), join, and watch the rounds: the model hash the swarm agreed on, what
// this tab sent and whether the decision took it, and the peers it is linked to and how. Or, instead
// of joining, validate the run (ValidatorPanel): a tab is a participant or a validator.
import { useState } from 'react';
import type { HubRunInfo } from '../client/hub-api.ts';
import type { TrainerWorker } from '../client/trainer-client.ts';
import { BURNER_LABEL } from '../identity/burner.ts';
import type { WalletAccount } from '../identity/wallet.ts';
import { PeerList } from './PeerList.tsx';
import { SwarmRoundTable } from './SwarmRoundTable.tsx';
import { useSwarm } from './useSwarm.ts';
import { useValidator } from './useValidator.ts';
import { ValidatorPanel } from './ValidatorPanel.tsx';
import { useWallet } from './useWallet.ts';

const PHASES: Record<string, string> = {
  joining: 'loading the model',
  training: 'training',
  submitting: 'announcing and committing its payload',
  waiting: 'waiting for the round\'s decision',
  applying: 'applying the decision',
  resyncing: 'out of sync: reloading the newest checkpoint',
};

export function SwarmPanel({ run, worker, hubUrl }: { run: HubRunInfo; worker: TrainerWorker | null; hubUrl: string }) {
  const { state, join, leave } = useSwarm(worker, hubUrl);
  const { wallet, connect, signerFor, burner } = useWallet();
  const [account, setAccount] = useState<string>('');
  const left = run.round === null ? 0 : Math.max(1, run.settings.rounds - run.round);
  const [rounds, setRounds] = useState(left);
  const validating = useValidator(worker, hubUrl);
  const busy = state.phase === 'joining' || state.phase === 'joined';
  const validatorActive = validating.state.phase === 'starting' || validating.state.phase === 'validating';
  const canJoin = worker !== null && run.round !== null && !busy && !validatorActive;
  const accounts = wallet.status === 'connected' ? wallet.connection.accounts : [];
  const chosen: WalletAccount | undefined = accounts.find((a) => a.address === account) ?? accounts[0];
  const s = run.settings;
  const session = state.identity?.session;

  return (
    <section className="card" data-testid="swarm" data-phase={state.phase} aria-labelledby="swarm-title">
      <h2 id="swarm-title">Train with the swarm</h2>
      <p>
        Run <code data-testid="run-id">{run.runId}</code>: the {s.preset} model, {s.batch}×{s.seqLen} tokens a step, {s.innerSteps} steps a round, a round every{' '}
        {((s.blocksPerRound * s.blockTimeMs) / 1000).toFixed(0)} s. {run.round === null ? 'This hub relays the run but does not host its chain: open the run\'s first hub to join.' : `The swarm is in round ${run.round} of ${s.rounds}.`}
      </p>

      {!busy && (
        <div className="join" data-testid="join-card">
          <p>
            To take part, this tab signs a session binding once with your hotkey; a session key made here then signs every payload it announces.
            {worker === null && ' Joining needs this tab\'s GPU worker (see above).'}
            {validatorActive && ' This tab is validating the run: stop validating to join.'}
          </p>
          <p className="buttons">
            <label>
              Rounds to take part in{' '}
              <input type="number" min={1} max={Math.max(1, s.rounds)} value={rounds} onChange={(e) => setRounds(Math.max(1, Math.floor(Number(e.target.value) || 1)))} />
            </label>
          </p>
          <p className="buttons">
            <button onClick={connect} disabled={!canJoin || wallet.status === 'connecting'}>
              {wallet.status === 'connecting' ? 'Connecting to the wallet…' : 'Connect wallet'}
            </button>
            <button onClick={() => join(burner(), rounds)} disabled={!canJoin} aria-describedby="burner-label">
              Use a burner key
            </button>
          </p>
          <p id="burner-label" className="hint">
            {BURNER_LABEL}
          </p>
          {wallet.status === 'connected' && (
            <p className="buttons">
              <label>
                Account{' '}
                <select value={chosen?.address ?? ''} onChange={(e) => setAccount(e.target.value)}>
                  {accounts.map((a) => (
                    <option key={`${a.source}/${a.address}`} value={a.address}>
                      {a.name ? `${a.name} · ` : ''}
                      {a.address} ({a.source})
                    </option>
                  ))}
                </select>
              </label>
              <button onClick={() => chosen && join(signerFor(chosen), rounds)} disabled={!canJoin || !chosen}>
                Join with this account
              </button>
            </p>
          )}
          {wallet.status === 'error' && (
            <p role="alert" className="error-text" data-testid="wallet-error">
              {wallet.message}
            </p>
          )}
        </div>
      )}

      {state.error && (
        <p role="alert" className="error-text" data-testid="swarm-error">
          {state.error}
        </p>
      )}

      <p data-testid="swarm-status" aria-live="polite">
        {state.phase === 'joining' && <>Joining: {state.progress ?? 'starting'}…</>}
        {state.phase === 'joined' && state.participant && (
          <>
            Round <span data-testid="swarm-round">{state.participant.round}</span>: <span data-testid="swarm-phase">{PHASES[state.participant.phase] ?? state.participant.phase}</span>
            {state.participant.phase === 'training' && state.step && ` · step ${state.step.step} · loss ${state.step.loss.toFixed(4)} · ${Math.round(state.step.tokensPerSecond).toLocaleString()} tokens/s`}
          </>
        )}
        {state.phase === 'finished' && `Done: this tab took part in ${state.rounds.length} round${state.rounds.length === 1 ? '' : 's'}.`}
        {state.phase === 'left' && 'This tab left the swarm.'}
      </p>
      {state.phase === 'joined' && (
        <p className="buttons">
          <button onClick={leave}>Leave the swarm</button>
        </p>
      )}

      {state.identity && session && (
        <dl data-testid="session">
          <dt>Hotkey</dt>
          <dd>
            <code data-testid="hotkey">{session.hotkey}</code> · <span data-testid="hotkey-label">{session.label}</span>
          </dd>
          <dt>Session</dt>
          <dd>
            binding <code title={session.bindingId}>{session.bindingId.slice(0, 14)}…</code>, registered on the run's chain, valid until {new Date(session.expiresAt).toLocaleString()}
          </dd>
          <dt>This tab's peer</dt>
          <dd>
            <code data-testid="peer-id">{state.identity.peerId}</code>
          </dd>
          <dt>Model hash</dt>
          <dd>
            <code data-testid="swarm-model-hash">{state.modelHash}</code>
          </dd>
        </dl>
      )}

      <SwarmRoundTable rounds={state.rounds} />
      {run.round !== null && (
        <ValidatorPanel
          state={validating.state}
          canStart={worker !== null && !busy}
          blockedBy={busy ? 'This tab is in the swarm: leave it to validate.' : worker === null ? 'Validating needs this tab\'s GPU worker (see above).' : null}
          start={() => void validating.start()}
          stop={() => void validating.stop()}
        />
      )}
      {(busy || state.links.length > 0) && <PeerList links={state.links} hubPeerId={state.identity?.hubPeerId ?? run.hub.peerId} />}
    </section>
  );
}
