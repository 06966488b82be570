// The libp2p node of a browser tab. It runs on the main thread (RTCPeerConnection does not exist
// in workers): WebSockets to the hubs, a circuit-relay reservation on them so that other peers
// can reach this tab, and WebRTC, which the relay only helps to set up; data then flows browser
// to browser, directly through NAT (STUN-punched) or through a TURN server when no direct path
// exists. Chromium's SCTP accepts 256 KiB messages, which is about 1.4x faster than the default
// 16 KiB.
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2';
import { webRTC } from '@libp2p/webrtc';
import { webSockets } from '@libp2p/websockets';
import { createLibp2p } from 'libp2p';
import { commonNodeOptions, type CommonNodeOptions, type SwarmNode } from './node-config.ts';

export interface BrowserPeerOptions extends CommonNodeOptions {
  /**
   * ICE servers (STUN/TURN): a list, or a function asked before each new WebRTC link (TURN
   * credentials expire; hub-client.ts's freshIceServers). Default [] (a private network, tests).
   */
  iceServers?: RTCIceServer[] | (() => Promise<RTCIceServer[]>);
}

const BROWSER_DATA_CHANNEL_MESSAGE_BYTES = 262_144;

export async function createBrowserPeer(options: BrowserPeerOptions): Promise<SwarmNode> {
  if (typeof RTCPeerConnection === 'undefined') {
    throw new Error("RTCPeerConnection is not available here: create the browser peer on the page's main thread, not in a worker");
  }
  const iceServers = options.iceServers ?? [];
  return createLibp2p({
    ...commonNodeOptions(options),
    addresses: { listen: ['/p2p-circuit', '/webrtc'] },
    transports: [
      webSockets(),
      webRTC({
        rtcConfiguration: async () => ({ iceServers: typeof iceServers === 'function' ? await iceServers() : iceServers }),
        dataChannel: { maxMessageSize: BROWSER_DATA_CHANNEL_MESSAGE_BYTES },
      }),
      circuitRelayTransport(),
    ],
  });
}
