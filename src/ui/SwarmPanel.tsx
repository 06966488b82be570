// Train with the swarm of the hub that served this page: pick a hotkey (a wallet account, or a
// burner key for a demo), join, and watch the dashboard: the round's phases, the loss, tokens/s,
// bytes and compression, peers and links, the Gauntlet's leaderboard and this tab's receipts.
// Pause, choose an intensity, let the tab pause itself for the machine (battery, CPU pressure, a data cap,
// idle-only), or leave at any time. The session, θ and the error feedback are saved after
// every round; a reload resumes them, and so does a lost GPU device (the notice says how long the
// recovery took). `?join=burner` joins with a burner key by itself (kiosks,
// `webloco demo`). Or, instead of joining, validate the run (ValidatorPanel).
import { useEffect, useMemo, useRef, useState } from 'react';
import type { RunInfo } from '../run/api.ts';
import type { TrainerWorker } from '../client/trainer-client.ts';
import { BURNER_LABEL } from '../identity/burner.ts';
import type { WalletAccount } from '../identity/wallet.ts';
import { formatRate } from './AdapterCard.tsx';
import { Chart } from './Chart.tsx';
import { Controls } from './Controls.tsx';
import { Leaderboard } from './Leaderboard.tsx';
import { lossSeries } from './loss-series.ts';
import { PeerList } from './PeerList.tsx';
import { RoundTimeline } from './RoundTimeline.tsx';
import { kilobytes, SwarmRoundTable } from './SwarmRoundTable.tsx';
import type { GpuRecovery } from './swarm-state.ts';
import { statusReport } from './machine-care.ts';
import { useDataCaps } from './useDataCaps.ts';
import { useMachineCare } from './useMachineCare.ts';
import { useSwarm } from './useSwarm.ts';
import { useValidator } from './useValidator.ts';
import { useWall } from './useWall.ts';
import { ValidatorPanel } from './ValidatorPanel.tsx';
import { useWallet } from './useWallet.ts';

const PHASES: Record<string, string> = {
  joining: 'loading the model',
  training: 'training',
  submitting: 'announcing and committing its payload',
  waiting: "waiting for the round's decision",
  applying: 'applying the decision',
  resyncing: 'out of sync: reloading the newest checkpoint',
};

/** `?join=burner[&rounds=N]` in the page's address. */
function autoJoin(): { rounds?: number } | null {
  const query = new URLSearchParams(window.location.search);
  if (query.get('join') !== 'burner') return null;
  const rounds = Math.floor(Number(query.get('rounds')));
  return rounds > 0 ? { rounds } : {};
}

export function SwarmPanel({ run, worker, hubUrl }: { run: RunInfo; worker: TrainerWorker | null; hubUrl: string }) {
  const caps = useDataCaps();
  const swarm = useSwarm(worker, hubUrl, run.runId, caps.count);
  // At a data cap the tab exchanges nothing: paused in the run, and no join (which downloads) until the period turns.
  const atCap = caps.reached.length > 0;
  const { state, saved } = swarm;
  const { wallet, connect, signerFor, burner } = useWallet();
  const [account, setAccount] = useState<string>('');
  const left = run.round === null ? 0 : Math.max(1, run.settings.rounds - run.round);
  const [rounds, setRounds] = useState(left);
  const validating = useValidator(worker, hubUrl);
  const wall = useWall(hubUrl);
  const view = wall.status === 'live' ? wall.view : null;
  const busy = state.phase === 'joining' || state.phase === 'joined';
  const validatorActive = validating.state.phase === 'starting' || validating.state.phase === 'validating';
  const canJoin = worker !== null && run.round !== null && !busy && !validatorActive && caps.loaded && !atCap;
  const accounts = wallet.status === 'connected' ? wallet.connection.accounts : [];
  const chosen: WalletAccount | undefined = accounts.find((a) => a.address === account) ?? accounts[0];
  const s = run.settings;
  const session = state.identity?.session;
  const savedTab = saved.status === 'saved' ? saved.tab : null;
  const care = useMachineCare({
    paused: state.paused,
    active: state.phase === 'joined',
    setPaused: swarm.setPaused,
    setDutyCycle: swarm.setDutyCycle,
    atDataCap: atCap,
  });

  // At a cap the tab also answers nobody's requests: others fetch from the hub instead.
  const { setServing } = swarm;
  useEffect(() => setServing(!atCap), [atCap, setServing]);

  // The hub hears what this tab is doing whenever that changes (the wall shows it as the tab's word).
  const report = useMemo(
    () => statusReport(care.reasons, care.dutyCycle, care.signals.pressure, state.gpu),
    [care.reasons, care.dutyCycle, care.signals.pressure, state.gpu],
  );
  const reportKey = JSON.stringify(report);
  const { reportStatus } = swarm;
  useEffect(() => {
    if (state.phase === 'joined') void reportStatus(report);
    // Sent again only when what it says changes (`reportKey`), not on every new object.
    // eslint-disable-next-line react-hooks/exhaustive-deps -- `report` is read through `reportKey` on purpose
  }, [reportKey, state.phase, reportStatus]);

  // A tab that was in the swarm when it closed rejoins by itself; `?join=burner` joins a new one.
  const started = useRef(false);
  const { join, resumeSaved } = swarm;
  useEffect(() => {
    if (started.current || !canJoin || saved.status === 'checking' || state.phase !== 'idle') return;
    if (savedTab?.active) {
      started.current = true;
      void resumeSaved(savedTab);
      return;
    }
    const auto = autoJoin();
    if (auto) {
      started.current = true;
      void join(burner(), auto.rounds);
    }
  }, [canJoin, saved.status, savedTab, state.phase, join, resumeSaved, burner]);

  const series = useMemo(() => lossSeries(state.losses, state.heldOut), [state.losses, state.heldOut]);
  const bytesUp = state.rounds.reduce((n, r) => n + r.bytesUp, 0);
  // The fraction of wall time this tab's GPU trained since it (last) joined: src/run/utilisation.ts.
  const gpuBusy = state.rounds.at(-1)?.gpu.run;
  const bytesDown = state.rounds.reduce((n, r) => n + r.bytesDown, 0);
  const sent = state.rounds.filter((r) => r.bytesUp > 0);
  const ratio = view && sent.length > 0 ? (view.denseBytes * sent.length) / sent.reduce((n, r) => n + r.bytesUp, 0) : null;
  const direct = new Set(state.links.filter((l) => l.kind === 'webrtc').map((l) => l.peer)).size;
  const blocks =
    view && state.participant?.round === view.round ? { done: view.blocksPerRound - view.blocksLeft, total: view.blocksPerRound } : null;

  const download = async () => {
    const bytes = session ? await swarm.savedModel(session.bindingId) : null;
    if (!bytes) return;
    const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'application/octet-stream' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = `${run.runId}-round-${state.saved?.round ?? 0}.safetensors`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  };

  return (
    <section className="card" data-testid="swarm" data-phase={state.phase} aria-labelledby="swarm-title">
      <h2 id="swarm-title">Train with the swarm</h2>
      <p>
        Run <code data-testid="run-id">{run.runId}</code>: the {s.preset} model, {s.batch}×{s.seqLen} tokens a step, {s.innerSteps} steps a
        round, a round every {((s.blocksPerRound * s.blockTimeMs) / 1000).toFixed(0)} s.{' '}
        {run.round === null
          ? "This hub relays the run but does not host its chain: open the run's first hub to join."
          : `The swarm is in round ${view?.round ?? run.round} of ${s.rounds}.`}
      </p>

      {!busy && savedTab && (
        <div className="join" data-testid="saved-session">
          <p>
            This tab has a saved session for this run: hotkey <code>{savedTab.session.signed.binding.hotkey}</code> ({savedTab.label}),
            valid until {new Date(savedTab.session.signed.binding.expiresAt).toLocaleString()}. Resuming keeps its model, optimizer state
            and error feedback.
          </p>
          <p className="buttons">
            <button onClick={() => void swarm.resumeSaved(savedTab)} disabled={!canJoin}>
              Resume saved session
            </button>
            <button onClick={() => void swarm.forget()}>Forget it</button>
          </p>
        </div>
      )}
      {saved.status === 'unavailable' && <p className="hint">This browser will not keep the session across reloads: {saved.message}</p>}

      {!busy && (
        <div className="join" data-testid="join-card">
          <p>
            To take part, this tab signs a session binding once with your hotkey; a session key made here then signs every payload it
            announces.
            {worker === null && " Joining needs this tab's GPU worker (see above)."}
            {validatorActive && ' This tab is validating the run: stop validating to join.'}
            {atCap && ' This tab used up a data cap (below): joining waits until its period turns.'}
          </p>
          <p className="buttons">
            <label>
              Rounds to take part in{' '}
              <input
                type="number"
                min={1}
                max={Math.max(1, s.rounds)}
                value={rounds}
                onChange={(e) => setRounds(Math.max(1, Math.floor(Number(e.target.value) || 1)))}
              />
            </label>
          </p>
          <p className="buttons">
            <button onClick={connect} disabled={!canJoin || wallet.status === 'connecting'}>
              {wallet.status === 'connecting' ? 'Connecting to the wallet…' : 'Connect wallet'}
            </button>
            <button onClick={() => void swarm.join(burner(), rounds)} disabled={!canJoin} aria-describedby="burner-label">
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
              <button onClick={() => chosen && void swarm.join(signerFor(chosen), rounds)} disabled={!canJoin || !chosen}>
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

      {state.gpu.lost > 0 && <GpuRecoveryNotice gpu={state.gpu} />}

      {state.error && (
        <p role="alert" className="error-text" data-testid="swarm-error">
          {state.error}
        </p>
      )}

      <p data-testid="swarm-status" aria-live="polite" data-step={state.step?.step ?? ''} data-paused={String(state.paused)}>
        {state.phase === 'joining' && <>Joining: {state.progress ?? 'starting'}…</>}
        {state.phase === 'joined' && state.participant && (
          <>
            Round <span data-testid="swarm-round">{state.participant.round}</span>:{' '}
            <span data-testid="swarm-phase">{state.paused ? 'paused' : (PHASES[state.participant.phase] ?? state.participant.phase)}</span>
            {state.participant.phase === 'training' && state.step && ` · step ${state.step.step} · loss ${state.step.loss.toFixed(4)}`}
          </>
        )}
        {state.phase === 'finished' && `Done: this tab took part in ${state.rounds.length} round${state.rounds.length === 1 ? '' : 's'}.`}
        {state.phase === 'left' && 'This tab left the swarm.'}
      </p>

      {run.round !== null && (
        <Controls
          care={care}
          caps={caps}
          busy={busy}
          leave={
            state.phase === 'joined'
              ? () => {
                  // The person's pause belonged to this membership; a new join starts training.
                  care.setPersonPaused(false);
                  void swarm.leave();
                }
              : null
          }
        />
      )}

      {busy && (
        <RoundTimeline
          round={state.participant?.round ?? null}
          phase={state.roundPhase}
          paused={state.paused}
          stepsDone={state.stepsThisRound}
          innerSteps={s.innerSteps}
          blocks={blocks}
        />
      )}

      {(busy || state.rounds.length > 0) && (
        <>
          <div className="stats" data-testid="stats">
            <Stat label="Tokens/s" value={state.step ? formatRate(state.step.tokensPerSecond) : '–'} testId="tokens-per-second" />
            <Stat label="Last loss" value={state.step ? state.step.loss.toFixed(3) : '–'} testId="last-loss" />
            <Stat label="Held-out loss" value={state.saved ? state.saved.heldOutLoss.toFixed(3) : '–'} testId="held-out-loss" />
            <Stat label="Sent" value={kilobytes(bytesUp)} testId="bytes-up" />
            <Stat label="Fetched" value={kilobytes(bytesDown)} testId="bytes-down" />
            <Stat label="Compression" value={ratio ? `${ratio.toFixed(0)}×` : '–'} testId="compression" />
            <Stat label="Peers (direct)" value={`${new Set(state.links.map((l) => l.peer)).size} (${direct})`} testId="peer-count" />
            <Stat label="GPU busy since joining" value={gpuBusy ? percent(gpuBusy.fraction) : '–'} testId="gpu-busy" />
          </div>
          <Chart title="Loss: this tab's inner steps, and the swarm's model after each round" series={series} />
        </>
      )}

      {state.identity && session && (
        <dl data-testid="session">
          <dt>Hotkey</dt>
          <dd>
            <code data-testid="hotkey">{session.hotkey}</code> · <span data-testid="hotkey-label">{session.label}</span>
          </dd>
          <dt>Session</dt>
          <dd>
            binding{' '}
            <code title={session.bindingId} data-testid="binding-id" data-binding-id={session.bindingId}>
              {session.bindingId.slice(0, 14)}…
            </code>
            , registered on the run's chain, valid until {new Date(session.expiresAt).toLocaleString()}
          </dd>
          {state.resumed && (
            <>
              <dt>Resumed</dt>
              <dd
                data-testid="resumed"
                data-source={state.resumed.joinedFrom?.source ?? ''}
                data-round={state.resumed.joinedFrom?.round ?? ''}
                data-model-hash={state.resumed.model?.modelHash ?? ''}
                data-error-feedback-hash={state.resumed.errorFeedback?.hash ?? ''}
              >
                from {state.resumed.joinedFrom?.source === 'local' ? "this tab's saved model" : "the hub's checkpoint"} of round{' '}
                {state.resumed.joinedFrom?.round}
                {state.resumed.errorFeedback
                  ? `, with the error feedback saved after round ${state.resumed.errorFeedback.round - 1}`
                  : ', without saved error feedback'}
              </dd>
            </>
          )}
          <dt>This tab's peer</dt>
          <dd>
            <code data-testid="peer-id">{state.identity.peerId}</code>
          </dd>
          <dt>Global model</dt>
          <dd>
            <code data-testid="swarm-model-hash">{state.modelHash}</code>
            {state.saved && ` · step ${state.saved.step}`}
          </dd>
          {state.saved && (
            <>
              <dt>Error feedback</dt>
              <dd>
                saved after round {state.saved.round - 1}:{' '}
                <code data-testid="error-feedback-hash" data-hash={state.saved.errorFeedbackHash} data-round={state.saved.round}>
                  {state.saved.errorFeedbackHash.slice(0, 16)}…
                </code>{' '}
                <button onClick={() => void download()} data-testid="download-checkpoint" data-model-hash={state.saved.modelHash}>
                  Download checkpoint
                </button>
              </dd>
            </>
          )}
        </dl>
      )}

      <SwarmRoundTable rounds={state.rounds} hubRounds={view?.rounds} hotkey={session?.hotkey ?? null} />
      {view && view.peers.length > 0 && <Leaderboard peers={view.peers} validator={view.validator} you={session?.hotkey ?? null} />}
      {run.round !== null && (
        <ValidatorPanel
          state={validating.state}
          canStart={worker !== null && !busy}
          blockedBy={
            busy
              ? 'This tab is in the swarm: leave it to validate.'
              : worker === null
                ? "Validating needs this tab's GPU worker (see above)."
                : null
          }
          start={() => void validating.start()}
          stop={() => void validating.stop()}
        />
      )}
      {(busy || state.links.length > 0) && <PeerList links={state.links} hubPeerIds={state.identity?.hubPeerIds ?? [run.hub.peerId]} />}
    </section>
  );
}

/** A lost GPU device: being replaced, or replaced and how long that took, with the count of recoveries. */
function GpuRecoveryNotice({ gpu }: { gpu: GpuRecovery }) {
  const state = gpu.recovering ? 'recovering' : gpu.recovered === gpu.lost ? 'recovered' : 'failed';
  return (
    <p
      role="status"
      className={state === 'failed' ? 'error-text' : 'hint'}
      data-testid="gpu-recovery"
      data-state={state}
      data-recoveries={gpu.recovered}
      data-recovery-ms={gpu.lastMs ?? ''}
    >
      {state === 'recovering' &&
        `The GPU device was lost (${gpu.reason}). Opening a new one and rejoining with the model, optimizer state and error feedback saved after the last round…`}
      {state === 'recovered' &&
        `The GPU device was lost (${gpu.reason}); this tab opened a new one and rejoined with its saved state in ${gpu.lastMs} ms.`}
      {state === 'failed' && `The GPU device was lost (${gpu.reason}) and this tab could not rejoin (see below).`} Recoveries:{' '}
      <span data-testid="gpu-recoveries">{gpu.recovered}</span>.
    </p>
  );
}

function percent(fraction: number): string {
  return `${(fraction * 100).toFixed(1)}%`;
}

function Stat({ label, value, testId }: { label: string; value: string; testId: string }) {
  return (
    <div className="stat">
      <div className="stat-label">{label}</div>
      <div className="stat-value" data-testid={testId}>
        {value}
      </div>
    </div>
  );
}
