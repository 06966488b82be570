// The peers this tab is connected to, and how: a direct WebRTC link (data flows browser to
// browser), relayed through the hub (only to set up a direct link), or the WebSocket to a hub.
// For each WebRTC link, the ICE path its statistics report: direct through the NATs (host,
// server-reflexive or peer-reflexive candidates) or relayed by a TURN server, and the bytes it carried.
import type { PeerLink } from '../swarm/swarm.ts';
import { kilobytes } from './SwarmRoundTable.tsx';

const KIND_LABELS: Record<PeerLink['kind'], string> = {
  webrtc: 'direct WebRTC',
  relayed: 'relayed',
  websockets: 'WebSocket',
  other: 'other transport',
};

function linkLabel(link: PeerLink, hubPeerIds: readonly string[]): string {
  if (link.kind === 'websockets' && hubPeerIds.includes(link.peer)) return 'WebSocket (hub)';
  const path = link.path;
  if (link.kind !== 'webrtc' || !path) return KIND_LABELS[link.kind];
  const pair = `${path.local} ↔ ${path.remote}`;
  const bytes = `${kilobytes(path.bytesSent)} sent, ${kilobytes(path.bytesReceived)} received`;
  return path.via === 'turn'
    ? `WebRTC through TURN${path.turnServer ? ` (${path.turnServer})` : ''}: ${pair}, ${bytes}`
    : `direct WebRTC: ${pair}, ${bytes}`;
}

export function PeerList({ links, hubPeerIds }: { links: PeerLink[]; hubPeerIds: readonly string[] }) {
  const byPeer = new Map<string, PeerLink[]>();
  for (const link of links) byPeer.set(link.peer, [...(byPeer.get(link.peer) ?? []), link]);
  // The hubs first, then peers with a direct link, then the rest.
  const rank = (peer: string, l: PeerLink[]) => (hubPeerIds.includes(peer) ? 0 : l.some((x) => x.kind === 'webrtc') ? 1 : 2);
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
            // The WebRTC link that carried the most bytes: the one data actually flows over.
            const carrier = peerLinks
              .flatMap((l) => (l.path ? [l.path] : []))
              .sort((a, b) => b.bytesSent + b.bytesReceived - (a.bytesSent + a.bytesReceived))[0];
            return (
              <li
                key={peer}
                data-testid="peer"
                data-peer-id={peer}
                data-kinds={kinds.join(' ')}
                data-path={carrier?.via ?? ''}
                data-candidates={carrier ? `${carrier.local}/${carrier.remote}` : ''}
                data-bytes={carrier ? carrier.bytesSent + carrier.bytesReceived : ''}
              >
                <code title={peer}>…{peer.slice(-10)}</code>
                {hubPeerIds.includes(peer) && ' (a hub)'}: {[...new Set(peerLinks.map((l) => linkLabel(l, hubPeerIds)))].join(', ')}
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
