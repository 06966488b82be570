// The page a volunteer opens: what WebLoCo is, and what their GPU can do for the swarm.
import { AdapterCard } from './AdapterCard.tsx';
import { SelfTest } from './SelfTest.tsx';
import { TrainingPanel } from './TrainingPanel.tsx';
import { useTrainer } from './useTrainer.ts';

export function App() {
  const { gpu, worker } = useTrainer();
  return (
    <main>
      <header>
        <h1>WebLoCo</h1>
        <p>Pre-train a language model together with strangers, from this tab. Your GPU trains a small LLaMA-style model; SparseLoCo sends what it learned in a few kilobytes.</p>
      </header>
      <AdapterCard gpu={gpu} />
      {gpu.status === 'ready' && worker && <SelfTest worker={worker} />}
      {gpu.status === 'ready' && worker && <TrainingPanel worker={worker} />}
    </main>
  );
}
