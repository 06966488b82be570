// React hook around the tab's membership of its hub's swarm (src/client/swarm-client.ts): join
// with a hotkey, follow the rounds, the links and the training, leave.
import { useCallback, useEffect, useReducer, useRef } from 'react';
import { joinSwarm, type JoinedSwarm } from '../client/swarm-client.ts';
import type { TrainerWorker } from '../client/trainer-client.ts';
import type { HotkeySigner } from '../identity/binding.ts';
import { initialSwarm, swarmReducer } from './swarm-state.ts';

export function useSwarm(worker: TrainerWorker | null, hubUrl: string) {
  const [state, dispatch] = useReducer(swarmReducer, initialSwarm);
  const joined = useRef<JoinedSwarm | null>(null);

  const join = useCallback(
    async (signer: HotkeySigner | Promise<HotkeySigner>, rounds?: number) => {
      if (!worker || joined.current) return;
      dispatch({ type: 'join' });
      try {
        const member = await joinSwarm({
          hubUrl,
          worker,
          signer: await signer,
          ...(rounds ? { rounds } : {}),
          onProgress: (progress) => dispatch({ type: 'progress', progress }),
          onStatus: (status) => dispatch({ type: 'status', status }),
          onRound: (round) => dispatch({ type: 'round', round }),
          onLinks: (links) => dispatch({ type: 'links', links }),
          onStep: (e) => e.kind === 'step' && dispatch({ type: 'step', step: { step: e.step, loss: e.loss, tokensPerSecond: e.tokensPerSecond } }),
        });
        joined.current = member;
        dispatch({ type: 'joined', identity: { peerId: member.peerId, hubPeerId: member.hubPeerId, session: member.session }, modelHash: await worker.api.modelHash() });
        member.done.then(
          () => dispatch({ type: 'finished' }),
          (err: unknown) => dispatch({ type: 'failed', message: err instanceof Error ? err.message : String(err) }),
        ).finally(() => {
          if (joined.current === member) joined.current = null;
        });
      } catch (err) {
        dispatch({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
      }
    },
    [worker, hubUrl],
  );

  const leave = useCallback(async () => {
    const member = joined.current;
    if (!member) return;
    joined.current = null;
    await member.leave();
    dispatch({ type: 'left' });
  }, []);

  // Closing the panel (or the tab's React root) leaves the swarm.
  useEffect(
    () => () => {
      void joined.current?.leave();
      joined.current = null;
    },
    [],
  );

  return { state, join, leave };
}
