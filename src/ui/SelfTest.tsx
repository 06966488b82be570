// "Check the GPU": runs a WGSL kernel in the worker and compares it with the CPU's answer.
import { errorMessage } from '../base/errors.ts';
import { useState } from 'react';
import type { SelfTestResult } from '../client/worker.ts';
import type { TrainerWorker } from '../client/trainer-client.ts';

export function SelfTest({ worker }: { worker: TrainerWorker }) {
  const [result, setResult] = useState<SelfTestResult | { error: string } | null>(null);
  const [running, setRunning] = useState(false);
  const run = async () => {
    setRunning(true);
    try {
      setResult(await worker.api.gpu.selfTest());
    } catch (err) {
      setResult({ error: errorMessage(err) });
    } finally {
      setRunning(false);
    }
  };
  return (
    <p>
      <button onClick={run} disabled={running}>
        Check the GPU
      </button>{' '}
      {result && 'error' in result && (
        <span data-testid="self-test" data-ok="false" role="alert">
          GPU check failed: {result.error}
        </span>
      )}
      {result && !('error' in result) && (
        <span data-testid="self-test" data-ok={String(result.ok)}>
          {result.ok ? 'Kernel check passed' : 'Kernel check FAILED'}: {result.n} values, max error {result.maxAbsError}
        </span>
      )}
    </p>
  );
}
