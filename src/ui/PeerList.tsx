// The peers this tab is connected to, and how: a direct WebRTC link (data flows browser to
// browser), relayed through the hub (only to set up a direct link), or the WebSocket to the hub.
import type { PeerLink } from '../swarm/swarm.ts';

const KIND_LABELS: Record<PeerLink['kind'], string> = {
  webrtc: 'direct WebRTC',
  relayed: 'relayed',
  websockets: 'WebSocket',
  other: 'other transport',
};

function linkLabel(link: PeerLink, hubPeerId: string): string {
  return link.kind === 'websockets' && link.peer === hubPeerId ? 'WebSocket (hub)' : KIND_LABELS[link.kind];
}

export function PeerList({ links, hubPeerId }: { links: PeerLink[]; hubPeerId: string }) {
  const byPeer = new Map<string, PeerLink[]>();
  for (const link of links) byPeer.set(link.peer, [...(byPeer.get(link.peer) ?? []), link]);
  // The hub first, then peers with a direct link, then the rest.
  const rank = (peer: string, l: PeerLink[]) => (peer === hubPeerId ? 0 : l.some((x) => x.kind === 'webrtc') ? 1 : 2);
  const peers = [...byPeer].sort(([a, la], [b, lb]) => rank(a, la) - rank(b, lb) || a.localeCompare(b));
  return (
    <section aria-labelledby="peers-title" data-testid="peers">
      <h3 id="peers-title">Connected peers ({peers.length})</h3>
      {peers.length === 0 ? (
        <p>No connections yet.</p>
      ) : (
        <ul>
          {peers.map(([peer, peerLinks]) => {
            const kinds = [...new Set(peerLinks.map((l) => l.kind))].sort();
            return (
              <li key={peer} data-testid="peer" data-peer-id={peer} data-kinds={kinds.join(' ')}>
                <code title={peer}>…{peer.slice(-10)}</code>
                {peer === hubPeerId && ' (the hub)'}: {[...new Set(peerLinks.map((l) => linkLabel(l, hubPeerId)))].join(', ')}
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
