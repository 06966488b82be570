// Which GPU the training worker got (or why it got none: a page that is not a secure context is
// told to open itself over HTTPS, apart from a browser without WebGPU), and what it can do: the presets its
// limits allow, the measured matmul rate, the tokens/s to expect, and the preset to recommend.
// Served by a hub, it says whether this GPU can train the run's preset.
import type { PresetFit } from '../engine/capability.ts';
import type { CapabilityState, GpuState } from './useTrainer.ts';

function formatBytes(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${(n / 2 ** 20).toFixed(0)} MiB`;
}

export function formatRate(tokensPerSecond: number): string {
  return tokensPerSecond >= 100 ? Math.round(tokensPerSecond).toLocaleString('en-US') : tokensPerSecond.toPrecision(2);
}

export function AdapterCard({ gpu, capability, runPreset }: { gpu: GpuState; capability: CapabilityState; runPreset: string | null }) {
  if (gpu.status === 'starting')
    return (
      <section className="card" data-testid="gpu-starting">
        Starting the GPU worker…
      </section>
    );
  if (gpu.status === 'unavailable' && gpu.reason === 'insecure-context') {
    return (
      <section className="card error" role="alert" data-testid="insecure-context">
        <h2>Open this page over HTTPS</h2>
        <p>{gpu.message}</p>
      </section>
    );
  }
  if (gpu.status === 'unavailable') {
    return (
      <section className="card error" role="alert" data-testid="gpu-unavailable">
        <h2>This tab cannot train</h2>
        <p>{gpu.message}</p>
      </section>
    );
  }
  const a = gpu.adapter;
  return (
    <section className="card" data-testid="gpu-ready" aria-labelledby="gpu-title">
      <h2 id="gpu-title">Your GPU</h2>
      <dl>
        <dt>Adapter</dt>
        <dd data-testid="adapter-name">{[a.vendor, a.architecture, a.description].filter(Boolean).join(' · ') || 'unnamed adapter'}</dd>
        <dt>Software fallback</dt>
        <dd>{a.isFallbackAdapter ? 'yes (slow: a CPU is emulating the GPU)' : 'no'}</dd>
        <dt>Largest storage binding</dt>
        <dd>{formatBytes(a.limits.maxStorageBufferBindingSize ?? 0)}</dd>
        <dt>GPU timers</dt>
        <dd>{a.hasTimestamps ? 'available' : 'not available'}</dd>
        <dt>Matmul precision</dt>
        <dd data-testid="precision">{a.f16 ? 'f16 inputs, f32 sums (?f16=on; not measured faster than f32 on a real GPU yet)' : 'f32'}</dd>
      </dl>
      <CapabilityReport capability={capability} runPreset={runPreset} />
    </section>
  );
}

function CapabilityReport({ capability, runPreset }: { capability: CapabilityState; runPreset: string | null }) {
  if (capability.status === 'measuring')
    return (
      <p data-testid="capability" data-status="measuring">
        Measuring what this GPU can do…
      </p>
    );
  if (capability.status === 'failed') {
    return (
      <p role="alert" className="error-text" data-testid="capability" data-status="failed">
        The capability check failed: {capability.message}. Reload the page; if it fails again, this browser's WebGPU is not usable for
        training.
      </p>
    );
  }
  const c = capability.capability;
  const run = runPreset ? c.presets.find((p) => p.preset === runPreset) : undefined;
  return (
    <div data-testid="capability" data-status="done" data-recommended={c.recommended ?? ''}>
      <p>
        Matmul benchmark: <strong>{c.matmulGflops.toFixed(1)} GFLOP/s</strong> ({c.matmulSize}×{c.matmulSize}).{' '}
        {c.recommended ? (
          <>
            Recommended model: <strong data-testid="recommended-preset">{c.recommended}</strong>.
          </>
        ) : (
          <strong>No model preset fits this GPU's limits.</strong>
        )}
      </p>
      {run && <RunFit fit={run} />}
      <table className="rounds compact">
        <caption>Model presets on this GPU</caption>
        <thead>
          <tr>
            <th scope="col">Preset</th>
            <th scope="col">Parameters</th>
            <th scope="col">Fits</th>
            <th scope="col">Expected tokens/s</th>
          </tr>
        </thead>
        <tbody>
          {c.presets.map((p) => (
            <tr key={p.preset} data-testid="preset-fit" data-preset={p.preset} data-fits={String(p.fits)}>
              <td>{p.preset}</td>
              <td>{(p.parameterCount / 1e6).toFixed(2)} M</td>
              <td>{p.fits ? `yes (${formatBytes(p.bytes)})` : `no: ${p.reason}`}</td>
              <td>{p.fits ? `≈ ${formatRate(p.expectedTokensPerSecond)}` : '–'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function RunFit({ fit }: { fit: PresetFit }) {
  if (!fit.fits) {
    return (
      <p role="alert" className="error-text" data-testid="run-fit" data-fits="false">
        This run trains the {fit.preset} model, which does not fit this GPU ({fit.reason}). Open the page on a computer with a larger GPU,
        or validate the run instead of training.
      </p>
    );
  }
  return (
    <p data-testid="run-fit" data-fits="true">
      This run trains the <strong>{fit.preset}</strong> model: expect about{' '}
      <strong>{formatRate(fit.expectedTokensPerSecond)} tokens/s</strong> here.
    </p>
  );
}
