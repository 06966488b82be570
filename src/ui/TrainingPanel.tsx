// Train in this tab: a solo SparseLoCo run (the tab is a swarm of one until it joins a hub).
// Start, pause, stop, watch the loss fall, see each round's payload and model hash, save a checkpoint.
import { useState } from 'react';
import type { TrainerWorker } from '../client/trainer-client.ts';
import { Chart } from './Chart.tsx';
import { lossSeries } from './loss-series.ts';
import { RoundTable } from './RoundTable.tsx';
import { useTraining } from './useTraining.ts';

const DEFAULT_ROUNDS = 10;

export function TrainingPanel({ worker }: { worker: TrainerWorker }) {
  const { state, start, pause, resume, stop, saveCheckpoint } = useTraining(worker);
  const [rounds, setRounds] = useState(DEFAULT_ROUNDS);
  const last = state.losses.at(-1);
  const lastHeldOut = state.heldOut.at(-1);
  const busy = state.phase === 'training' || state.phase === 'paused' || state.phase === 'stopping' || state.phase === 'loading';
  const resumable = state.phase === 'ready' && state.rounds.length > 0 && state.info?.rounds === rounds;
  const info = state.info;
  return (
    <section className="card" data-testid="training" data-phase={state.phase}>
      <h2>Train in this tab</h2>
      <p>
        {info
          ? `${info.config.num_hidden_layers}-layer model, ${info.parameterCount.toLocaleString()} parameters, ${info.batch}×${info.seqLen} tokens a step, ${info.innerSteps} steps a round, on the Brown corpus (${info.trainTokens.toLocaleString()} training tokens).`
          : 'A tiny byte-level LLaMA trained on the Brown corpus, entirely on your GPU.'}{' '}
        Each round your GPU trains, then compresses what it learned (error feedback, top-k, 2-bit codes) into a payload a swarm would
        exchange, and applies it to the model.
      </p>
      <p className="buttons">
        <label>
          Rounds{' '}
          <input
            type="number"
            min={1}
            max={1000}
            value={rounds}
            disabled={busy}
            onChange={(e) => setRounds(Math.max(1, Math.floor(Number(e.target.value) || 1)))}
          />
        </label>
        <button onClick={() => start(rounds)} disabled={busy}>
          {resumable ? 'Continue' : `Start ${rounds} rounds`}
        </button>
        {state.phase === 'paused' ? (
          <button onClick={resume}>Resume</button>
        ) : (
          <button onClick={pause} disabled={state.phase !== 'training'}>
            Pause
          </button>
        )}
        <button onClick={stop} disabled={state.phase !== 'training' && state.phase !== 'paused'}>
          Stop
        </button>
        <button onClick={saveCheckpoint} disabled={!info || busy}>
          Save checkpoint
        </button>
      </p>
      <p data-testid="status" aria-live="polite">
        <span data-testid="phase">{state.phase === 'loading' ? 'loading data and compiling kernels…' : state.phase}</span>
        {info && (
          <>
            {' · round '}
            <span data-testid="round">{state.rounds.length}</span>/{info.rounds}
          </>
        )}
        {last && (
          <>
            {' · step '}
            <span data-testid="step">{last.step}</span>
            {' · loss '}
            <span data-testid="loss">{last.loss.toFixed(4)}</span>
            {` · ${Math.round(state.tokensPerSecond).toLocaleString()} tokens/s`}
          </>
        )}
        {lastHeldOut && (
          <>
            {' · held-out loss '}
            <span data-testid="heldout-loss">{lastHeldOut.loss.toFixed(4)}</span>
          </>
        )}
      </p>
      {info && (
        <p>
          Model hash <code data-testid="model-hash">{state.rounds.at(-1)?.modelHash ?? info.modelHash}</code>
        </p>
      )}
      {state.error && (
        <p role="alert" className="error-text">
          {state.error}
        </p>
      )}
      <Chart title="Loss of this tab's model" series={lossSeries(state.losses, state.heldOut)} />
      <RoundTable rounds={state.rounds} />
      {state.checkpoint && (
        <p data-testid="checkpoint" data-heldout-loss={state.checkpoint.heldOutLoss} data-model-hash={state.checkpoint.modelHash}>
          <a href={state.checkpoint.url} download={`webloco-tiny-step${state.checkpoint.step}.safetensors`}>
            Download checkpoint (step {state.checkpoint.step})
          </a>{' '}
          · held-out loss {state.checkpoint.heldOutLoss.toFixed(4)} · model hash <code>{state.checkpoint.modelHash.slice(0, 16)}…</code>
        </p>
      )}
    </section>
  );
}
