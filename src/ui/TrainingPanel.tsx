// Train the model in this tab: start, pause, stop, watch the loss fall, save a checkpoint.
import { LossChart } from './LossChart.tsx';
import type { TrainerWorker } from '../client/trainer-client.ts';
import { useTraining } from './useTraining.ts';

const STEPS = 200;

export function TrainingPanel({ worker }: { worker: TrainerWorker }) {
  const { state, start, pause, resume, stop, saveCheckpoint } = useTraining(worker);
  const last = state.losses.at(-1);
  const lastHeldOut = state.heldOut.at(-1);
  const busy = state.phase === 'training' || state.phase === 'paused' || state.phase === 'stopping' || state.phase === 'loading';
  return (
    <section className="card" data-testid="training" data-phase={state.phase}>
      <h2>Train in this tab</h2>
      <p>
        {state.info
          ? `${state.info.config.num_hidden_layers}-layer model, ${state.info.parameterCount.toLocaleString()} parameters, ${state.info.batch}×${state.info.seqLen} tokens a step, on the Brown corpus (${state.info.trainTokens.toLocaleString()} training tokens).`
          : 'A tiny byte-level LLaMA trained on the Brown corpus, entirely on your GPU.'}
      </p>
      <p className="buttons">
        <button onClick={() => start(STEPS)} disabled={busy || state.phase === 'error'}>
          {state.losses.length ? `Train ${STEPS} more steps` : `Train ${STEPS} steps`}
        </button>
        {state.phase === 'paused' ? <button onClick={resume}>Resume</button> : <button onClick={pause} disabled={state.phase !== 'training'}>Pause</button>}
        <button onClick={stop} disabled={state.phase !== 'training' && state.phase !== 'paused'}>
          Stop
        </button>
        <button onClick={saveCheckpoint} disabled={!state.info || busy}>
          Save checkpoint
        </button>
      </p>
      <p data-testid="status">
        <span data-testid="phase">{state.phase === 'loading' ? 'loading data and compiling kernels…' : state.phase}</span>
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
      {state.error && (
        <p role="alert" className="error-text">
          {state.error}
        </p>
      )}
      <LossChart losses={state.losses} heldOut={state.heldOut} />
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
