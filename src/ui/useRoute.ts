// The page's two views, chosen by the URL's hash: the volunteer's page (#/ or none) and the
// swarm wall for conference screens (#/wall). Follows hashchange, so links and the back button work.
import { useEffect, useState } from 'react';

export type Route = 'home' | 'wall';

function routeOf(hash: string): Route {
  return hash.replace(/^#\/?/, '').split(/[?/]/)[0] === 'wall' ? 'wall' : 'home';
}

export function useRoute(): Route {
  const [route, setRoute] = useState<Route>(() => routeOf(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(routeOf(window.location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
