// How many bytes the hub's circuit relay carried, per peer: the relay exists to set up direct
// WebRTC links, and this is how an operator (GET /api/run's `peers[].relayedBytes`) and the
// internet e2e test see that it carried signalling and nothing more. A libp2p service that, once
// the relay server has registered its hop protocol, wraps that handler: every byte received on or
// sent down a hop stream (a reservation, or a circuit with everything relayed through it) counts
// for the peer that opened the stream. Each circuit is counted once, on the peer that dialed it.
import { RELAY_V2_HOP_CODEC } from '@libp2p/circuit-relay-v2';
import type { Startable, Stream, StreamHandler, StreamHandlerOptions, StreamHandlerRecord } from '@libp2p/interface';

/** The part of libp2p's registrar (a component every service is given) this service uses. */
interface Registrar {
  getHandler(protocol: string): StreamHandlerRecord;
  handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>;
}

export interface RelayMeter {
  /** Bytes carried on hop streams each peer opened, both directions, since the hub started. */
  bytesFor(peer: string): number;
}

class HopStreamMeter implements RelayMeter, Startable {
  private readonly bytes = new Map<string, number>();

  constructor(private readonly components: { registrar: Registrar }) {}

  start(): void {}

  /** After every service started: the relay server's hop handler is registered by then. */
  async afterStart(): Promise<void> {
    const { registrar } = this.components;
    const { handler, options } = registrar.getHandler(RELAY_V2_HOP_CODEC);
    const metered: StreamHandler = (stream, connection) => {
      this.meter(stream, connection.remotePeer.toString());
      return handler(stream, connection);
    };
    await registrar.handle(RELAY_V2_HOP_CODEC, metered, { ...options, force: true });
  }

  stop(): void {}

  bytesFor(peer: string): number {
    return this.bytes.get(peer) ?? 0;
  }

  private meter(stream: Stream, peer: string): void {
    const add = (n: number) => this.bytes.set(peer, (this.bytes.get(peer) ?? 0) + n);
    stream.addEventListener('message', (event) => add(event.data.byteLength));
    const send = stream.send.bind(stream);
    stream.send = (data) => {
      add(data.byteLength);
      return send(data);
    };
  }
}

/** The meter as a libp2p service (`services: { relayMeter: relayMeter() }`), beside the relay server. */
export function relayMeter(): (components: { registrar: Registrar }) => RelayMeter {
  return (components) => new HopStreamMeter(components);
}
