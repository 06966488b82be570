// The libp2p node of a headless peer or validator in Node: the same protocols as a browser
// (WebSockets to hubs, circuit relay, WebRTC through node-datachannel), so it is a full member
// of the swarm, plus optional WebSockets listeners of its own.
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2';
import { webRTC } from '@libp2p/webrtc';
import { webSockets } from '@libp2p/websockets';
import { createLibp2p } from 'libp2p';
import { commonNodeOptions, type CommonNodeOptions, type SwarmNode } from './node-config.ts';
import { guardWebSocketListeners } from './ws-guard.ts';

export interface NodePeerOptions extends CommonNodeOptions {
  /** WebSockets listen addresses, e.g. `/ip4/0.0.0.0/tcp/4001/ws`; none by default. */
  listen?: string[];
  /**
   * Take part in direct WebRTC links (listen on `/p2p-circuit` and `/webrtc` through a hub's
   * relay). Default true; false makes a node that only speaks WebSockets.
   */
  webrtc?: boolean;
  /** ICE servers for WebRTC: a list, or a function asked before each new link (TURN credentials expire); [] on a private network. */
  iceServers?: RTCIceServer[] | (() => Promise<RTCIceServer[]>);
}

function iceServersOf(options: NodePeerOptions): RTCIceServer[] | Promise<RTCIceServer[]> {
  const servers = options.iceServers ?? [];
  return typeof servers === 'function' ? servers() : servers;
}

export async function createNodePeer(options: NodePeerOptions): Promise<SwarmNode> {
  const webrtc = options.webrtc ?? true;
  if (options.listen?.length) guardWebSocketListeners(); // strangers' frames reach a listener
  return createLibp2p({
    ...commonNodeOptions(options),
    addresses: { listen: [...(options.listen ?? []), ...(webrtc ? ['/p2p-circuit', '/webrtc'] : [])] },
    transports: [
      webSockets(),
      ...(webrtc ? [webRTC({ rtcConfiguration: async () => ({ iceServers: await iceServersOf(options) }) }), circuitRelayTransport()] : []),
    ],
  });
}
