// Shows which GPU the training worker got, or why it got none.
import type { GpuState } from './useTrainer.ts';

function formatBytes(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${(n / 2 ** 20).toFixed(0)} MiB`;
}

export function AdapterCard({ gpu }: { gpu: GpuState }) {
  if (gpu.status === 'starting') return <section className="card" data-testid="gpu-starting">Starting the GPU worker…</section>;
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
    <section className="card" data-testid="gpu-ready">
      <h2>GPU</h2>
      <dl>
        <dt>Adapter</dt>
        <dd data-testid="adapter-name">{[a.vendor, a.architecture, a.description].filter(Boolean).join(' · ') || 'unnamed adapter'}</dd>
        <dt>Software fallback</dt>
        <dd>{a.isFallbackAdapter ? 'yes (slow: a CPU is emulating the GPU)' : 'no'}</dd>
        <dt>Largest storage binding</dt>
        <dd>{formatBytes(a.limits.maxStorageBufferBindingSize ?? 0)}</dd>
        <dt>GPU timers</dt>
        <dd>{a.hasTimestamps ? 'available' : 'not available'}</dd>
      </dl>
    </section>
  );
}
