// The page a volunteer opens: what WebLoCo is, and what their GPU can do for the swarm. Served by
// a hub, the tab joins that hub's swarm; served by anything else, it trains on its own.
import { AdapterCard } from './AdapterCard.tsx';
import { SelfTest } from './SelfTest.tsx';
import { SwarmPanel } from './SwarmPanel.tsx';
import { TrainingPanel } from './TrainingPanel.tsx';
import { useHubRun } from './useHubRun.ts';
import { useTrainer } from './useTrainer.ts';
import { useRoute } from './useRoute.ts';
import { Wall } from './Wall.tsx';

export function App() {
  const route = useRoute();
  if (route === 'wall') return <Wall />;
  const { gpu, worker } = useTrainer();
  const hub = useHubRun();
  const gpuReady = gpu.status === 'ready' && worker !== null;
  return (
    <main>
      <header>
        <h1>WebLoCo</h1>
        <p>Pre-train a language model together with strangers, from this tab. Your GPU trains a small LLaMA-style model; SparseLoCo sends what it learned in a few kilobytes.</p>
      </header>
      <AdapterCard gpu={gpu} />
      {gpuReady && <SelfTest worker={worker} />}
      {hub.status === 'hub' && <SwarmPanel run={hub.run} worker={gpuReady ? worker : null} hubUrl={window.location.origin} />}
      {hub.status === 'solo' && gpuReady && <TrainingPanel worker={worker} />}
    </main>
  );
}
