// Whether the page was served by a hub: asks its own origin for GET /api/run once. A hub's page
// joins its swarm; any other server (vite, a static host) leaves the tab training on its own.
import { useEffect, useState } from 'react';
import type { RunInfo } from '../run/api.ts';
import { fetchRunInfo } from '../run/hub-client.ts';

export type HubRunState = { status: 'checking' } | { status: 'hub'; run: RunInfo } | { status: 'solo' };

export function useHubRun(): HubRunState {
  const [state, setState] = useState<HubRunState>({ status: 'checking' });
  useEffect(() => {
    const abort = new AbortController();
    fetchRunInfo(window.location.origin, abort.signal).then(
      (run) => !abort.signal.aborted && setState(run ? { status: 'hub', run } : { status: 'solo' }),
      () => !abort.signal.aborted && setState({ status: 'solo' }),
    );
    return () => abort.abort();
  }, []);
  return state;
}
