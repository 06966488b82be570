// The swarm wall's data: GET /api/wall from the hub that served the page, every two seconds. A
// page served by anything else (Vite's dev server, a static host) has no wall to show, and says so;
// a hub that stops answering keeps its last view on screen, marked as stale.
import { errorMessage } from '../base/errors.ts';
import { useEffect, useState } from 'react';
import type { WallView } from '../run/api.ts';

export type { WallPeer, WallRound, WallView } from '../run/api.ts';

const WALL_POLL_MS = 2_000;

export type WallState =
  | { status: 'loading' }
  | { status: 'no-hub'; reason: string }
  | { status: 'live'; view: WallView; updatedAt: number; stale: string | null };

/** One read of the wall: the view, or why this origin has none (`fatal`: it is not a hub's, stop asking). */
async function readWall(origin: string, signal: AbortSignal): Promise<{ view: WallView } | { error: string; fatal: boolean }> {
  let res: Response;
  try {
    res = await fetch(new URL('/api/wall', origin), { signal, headers: { accept: 'application/json' }, cache: 'no-store' });
  } catch (err) {
    return { error: `the hub did not answer (${errorMessage(err)})`, fatal: false };
  }
  const json = (res.headers.get('content-type') ?? '').startsWith('application/json');
  if (!json) return { error: 'this page was not served by a WebLoCo hub', fatal: true };
  // A body that is not JSON is answered as the status alone.
  const body = (await res.json().catch(() => null)) as (WallView & { error?: string }) | null;
  if (!res.ok || !body || !Array.isArray(body.peers))
    return { error: body?.error ?? `the hub answered ${res.status}`, fatal: res.status === 404 };
  return { view: body };
}

export function useWall(origin: string = window.location.origin): WallState {
  const [state, setState] = useState<WallState>({ status: 'loading' });
  useEffect(() => {
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      const read = await readWall(origin, abort.signal);
      if (abort.signal.aborted) return;
      if ('view' in read) setState({ status: 'live', view: read.view, updatedAt: Date.now(), stale: null });
      else if (read.fatal) return setState({ status: 'no-hub', reason: read.error });
      else setState((s) => (s.status === 'live' ? { ...s, stale: read.error } : { status: 'loading' }));
      timer = setTimeout(() => void poll(), WALL_POLL_MS);
    };
    void poll();
    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, [origin]);
  return state;
}
