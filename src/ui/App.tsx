// The page a volunteer opens: what WebLoCo is, and what their GPU can do for the swarm. Served by
// a hub, the tab joins that hub's swarm; served by anything else, it trains on its own. `#/wall`
// is the swarm wall for conference screens instead (it starts no GPU work).
import { AdapterCard } from './AdapterCard.tsx';
import { SelfTest } from './SelfTest.tsx';
import { SwarmPanel } from './SwarmPanel.tsx';
import { TrainingPanel } from './TrainingPanel.tsx';
import { useHubRun } from './useHubRun.ts';
import { useRoute } from './useRoute.ts';
import { useTrainer } from './useTrainer.ts';
import { Wall } from './Wall.tsx';

export function App() {
  return useRoute() === 'wall' ? <Wall /> : <Home />;
}

function Home() {
  const { gpu, worker, capability } = useTrainer();
  const hub = useHubRun();
  const gpuReady = gpu.status === 'ready' && worker !== null;
  return (
    <main>
      <header className="landing">
        <h1>WebLoCo</h1>
        <p className="lead">Pre-train a language model together with strangers, from this tab.</p>
        <p>
          Your GPU trains a small LLaMA-style model for a few steps, then SparseLoCo sends what it learned in a few kilobytes. A validator
          scores every contribution by the loss it removes, and a chain records who took part.
          {hub.status === 'hub' && (
            <>
              {' '}
              <a href="#/wall">Watch the whole swarm on its wall</a>.
            </>
          )}
        </p>
      </header>
      <AdapterCard gpu={gpu} capability={capability} runPreset={hub.status === 'hub' ? hub.run.settings.preset : null} />
      {gpuReady && <SelfTest worker={worker} />}
      {hub.status === 'hub' && <SwarmPanel run={hub.run} worker={gpuReady ? worker : null} hubUrl={window.location.origin} />}
      {hub.status === 'solo' && gpuReady && <TrainingPanel worker={worker} />}
    </main>
  );
}
