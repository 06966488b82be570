// React hook around the tab's membership of its hub's swarm (src/client/swarm-client.ts): join
// with a hotkey or resume the session this tab saved, follow the rounds, the links and the
// training, pause and resume the GPU, set its duty cycle, leave. The session, θ and the error
// feedback are saved in IndexedDB (TabStore) after every round; a tab that was in the swarm when
// it was closed or reloaded rejoins by itself, and so does one whose GPU device is lost: the worker
// opens a new device and the saved session resumes on it, as a reload would, without the wallet.
import { errorMessage } from '../base/errors.ts';
import { useCallback, useEffect, useReducer, useRef, useState } from 'react';
import { authorityFromFragment } from '../client/authority.ts';
import { joinSwarm, type JoinedSwarm, type PeerStatusReport } from '../client/swarm-client.ts';
import { TabStore, type SavedTab } from '../client/tab-store.ts';
import { watchDeviceLoss, type TrainerWorker } from '../client/trainer-client.ts';
import type { HotkeySigner } from '../identity/binding.ts';
import type { Transfer } from '../swarm/swarm.ts';
import { MODEL_FILE } from '../train/checkpoint.ts';
import { initialSwarm, swarmReducer } from './swarm-state.ts';

export type SavedSessionState =
  { status: 'checking' } | { status: 'none' } | { status: 'saved'; tab: SavedTab } | { status: 'unavailable'; message: string };

/** The run's authority as the page's link names it (`#authority=5F…`), for joining or validating. */
export function pageAuthority(): { authority?: string } {
  const authority = authorityFromFragment(window.location.hash);
  return authority === undefined ? {} : { authority };
}

/** `onTransfer`: each payload or checkpoint transfer the tab's swarm node made, with its bytes (the data caps count them). */
export function useSwarm(worker: TrainerWorker | null, hubUrl: string, runId: string, onTransfer?: (transfer: Transfer) => void) {
  const [state, dispatch] = useReducer(swarmReducer, initialSwarm);
  const transferred = useRef(onTransfer);
  useEffect(() => {
    transferred.current = onTransfer;
  }, [onTransfer]);
  const [saved, setSaved] = useState<SavedSessionState>({ status: 'checking' });
  const joined = useRef<JoinedSwarm | null>(null);
  const store = useRef<TabStore | null>(null);
  const paused = useRef(false);
  const serving = useRef(true);

  useEffect(() => {
    let closed = false;
    TabStore.open().then(
      async (s) => {
        if (closed) return s.close();
        store.current = s;
        // An unreadable saved tab is as good as none: the page offers a fresh join.
        const tab = await s.tab(runId).catch(() => undefined);
        setSaved(tab ? { status: 'saved', tab } : { status: 'none' });
      },
      (err: unknown) => setSaved({ status: 'unavailable', message: errorMessage(err) }),
    );
    return () => {
      closed = true;
      store.current?.close();
      store.current = null;
    };
  }, [runId]);

  /** Joins or resumes; resolves true once in the run. `recovering`: after a lost GPU, keeping the dashboard's history. */
  const start = useCallback(
    async (
      how: { signer: HotkeySigner | Promise<HotkeySigner>; rounds?: number } | { resume: SavedTab },
      recovering = false,
    ): Promise<boolean> => {
      if (!worker || joined.current) return false;
      dispatch({ type: 'join', recovering });
      try {
        const member = await joinSwarm({
          hubUrl,
          worker,
          ...('resume' in how ? { resume: how.resume } : { signer: await how.signer, ...(how.rounds ? { rounds: how.rounds } : {}) }),
          ...(store.current ? { store: store.current } : {}),
          ...pageAuthority(),
          onProgress: (progress) => dispatch({ type: 'progress', progress }),
          onStatus: (status) => dispatch({ type: 'status', status }),
          onRound: (round) => dispatch({ type: 'round', round }),
          onSaved: (s) => dispatch({ type: 'saved', saved: s }),
          onLinks: (links) => dispatch({ type: 'links', links }),
          onTransfer: (transfer) => transferred.current?.(transfer),
          onStep: (e) => {
            if (e.kind === 'step') dispatch({ type: 'step', step: { step: e.step, loss: e.loss, tokensPerSecond: e.tokensPerSecond } });
            else if (e.kind === 'compress') dispatch({ type: 'compress' });
          },
        });
        joined.current = member;
        // A pause asked for while joining holds the first round too; so does a stop to serving.
        if (paused.current) await worker.api.controls.pause();
        if (!serving.current) member.setServing(false);
        dispatch({
          type: 'joined',
          identity: { peerId: member.peerId, hubPeerIds: member.hubPeerIds, session: member.session },
          modelHash: await worker.api.member.modelHash(),
          resumed:
            'resume' in how
              ? { joinedFrom: member.joinedFrom, model: member.restoredModel, errorFeedback: member.restoredErrorFeedback }
              : null,
        });
        if (store.current) setSaved({ status: 'saved', tab: (await store.current.tab(runId))! });
        member.done.then(
          () => {
            if (joined.current !== member) return; // left, or replaced by a recovery
            joined.current = null;
            dispatch({ type: 'finished' });
          },
          async (err: unknown) => {
            if (joined.current !== member) return;
            // A round that failed on a lost device is the device watcher's to recover, not an error to show.
            if ((await worker.api.gpu.deviceLost().catch(() => null)) !== null) return;
            joined.current = null;
            dispatch({ type: 'failed', message: errorMessage(err) });
          },
        );
        return true;
      } catch (err) {
        dispatch({ type: 'failed', message: errorMessage(err) });
        return false;
      }
    },
    [worker, hubUrl, runId],
  );

  // A lost GPU device (driver reset, GPU process crash) while in the run: leave with the old
  // device, then resume the saved session as a reload does. The worker opens a new adapter and
  // device; θ, AdamW state and e come from IndexedDB; the session binding is the saved one, so no
  // wallet is asked. The round in progress is lost, nothing saved before it.
  useEffect(() => {
    if (!worker) return;
    return watchDeviceLoss(worker, (reason) => {
      const member = joined.current;
      if (!member) return; // not in the run: the next join opens a new device by itself
      joined.current = null;
      const lostAt = performance.now();
      dispatch({ type: 'gpu-lost', reason });
      void (async () => {
        await member.leave();
        const tab = await store.current?.tab(runId).catch(() => undefined); // unreadable: as good as none, said below
        if (!tab) {
          dispatch({
            type: 'failed',
            message: `The GPU device was lost (${reason}) and this browser kept no saved session to resume: join again.`,
          });
          return;
        }
        if (await start({ resume: tab }, true)) dispatch({ type: 'gpu-recovered', ms: Math.round(performance.now() - lostAt) });
      })();
    });
  }, [worker, runId, start]);

  const join = useCallback(
    (signer: HotkeySigner | Promise<HotkeySigner>, rounds?: number) => start({ signer, ...(rounds ? { rounds } : {}) }),
    [start],
  );
  const resumeSaved = useCallback((tab: SavedTab) => start({ resume: tab }), [start]);

  const leave = useCallback(async () => {
    const member = joined.current;
    if (!member) return;
    joined.current = null;
    await member
      .reportStatus({ state: 'left', reasons: [], intensity: 0, pressure: 'unknown', gpuRecoveries: 0 })
      .catch((err: unknown) => console.warn(`peer status not sent: ${errorMessage(err)}`));
    await member.leave();
    paused.current = false;
    dispatch({ type: 'left' });
    // Left on purpose: a reload offers to resume the session instead of rejoining by itself.
    await store.current?.setActive(runId, false).catch(() => {}); // storage refused: the reload then rejoins, no harm
    const tab = await store.current?.tab(runId);
    if (tab) setSaved({ status: 'saved', tab });
  }, [runId]);

  const forget = useCallback(async () => {
    await store.current?.forget(runId);
    setSaved({ status: 'none' });
  }, [runId]);

  /** Holds (or releases) the GPU before the next inner step; θ and the error feedback stay as they are. */
  const setPaused = useCallback(
    async (pause: boolean) => {
      paused.current = pause;
      if (worker && joined.current) await (pause ? worker.api.controls.pause() : worker.api.controls.resume());
      dispatch({ type: 'paused', paused: pause });
    },
    [worker],
  );

  /** Answers other peers' requests for objects, or refuses them (a data cap): kept across joins. */
  const setServing = useCallback((serve: boolean) => {
    serving.current = serve;
    joined.current?.setServing(serve);
  }, []);

  const setDutyCycle = useCallback(
    async (duty: number) => {
      if (worker && joined.current) await worker.api.controls.setDutyCycle(duty);
    },
    [worker],
  );

  /**
   * Tells the run's hub what this tab is doing (the wall shows it as the tab's word). A refusal or
   * an unreachable hub costs nothing but the wall's line: it is logged, and the next change sends again.
   */
  const reportStatus = useCallback(async (report: PeerStatusReport) => {
    await joined.current?.reportStatus(report).catch((err: unknown) => console.warn(`peer status not sent: ${errorMessage(err)}`));
  }, []);

  /** The safetensors of θ as session `bindingId` saved it after its latest round (no GPU work, no race with training). */
  const savedModel = useCallback(
    async (bindingId: string): Promise<Uint8Array | null> => (await store.current?.progress(runId, bindingId))?.files[MODEL_FILE] ?? null,
    [runId],
  );

  // Closing the panel (or the tab's React root) leaves the swarm; the saved session stays active,
  // so that a reload resumes it.
  useEffect(
    () => () => {
      void joined.current?.leave();
      joined.current = null;
    },
    [],
  );

  return { state, saved, join, resumeSaved, leave, forget, setPaused, setServing, setDutyCycle, reportStatus, savedModel };
}
