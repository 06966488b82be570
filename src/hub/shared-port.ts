// Node only: libp2p's WebSockets on the hub's own HTTP(S) port, so a hub needs one open port for
// the app, the API and the swarm (wss:// beside https:// on a TLS hub). @libp2p/websockets'
// listener owns its servers and answers plain HTTP with 400, so the hub cannot hand it one; this
// transport's listener is instead driven by the hub server's 'upgrade' events: a `ws` server
// without a server of its own accepts each upgrade, and the accepted socket, wrapped as a libp2p
// MultiaddrConnection with its real remote address (rate limits are per address), goes to the
// upgrader. Every socket gets ws-guard.ts's protections (an error listener, a message limit).
// Dialing (a hub keeping other hubs connected) is @libp2p/websockets' own.
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  serviceCapabilities,
  transportSymbol,
  TypedEventEmitter,
  type ComponentLogger,
  type CreateListenerOptions,
  type DialTransportOptions,
  type Listener,
  type ListenerEvents,
  type Transport,
  type Upgrader,
} from '@libp2p/interface';
import { AbstractMultiaddrConnection, getThinWaistAddresses, ipPortToMultiaddr, type AbstractMultiaddrConnectionInit } from '@libp2p/utils';
import { webSockets } from '@libp2p/websockets';
import type { Multiaddr } from '@multiformats/multiaddr';
import { errorMessage } from '../base/errors.ts';
import { besideLibp2pWebSockets, guardAcceptedSocket, MAX_WS_MESSAGE_BYTES, type AcceptedSocket } from '../swarm/ws-guard.ts';

/** Bytes queued on a socket before libp2p is told to wait for 'drain' (@libp2p/websockets' default). */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

type HubServer = HttpServer | HttpsServer;
type WebSocketsComponents = Parameters<ReturnType<typeof webSockets>>[0];

/** An accepted `ws` socket as a libp2p connection. */
class AcceptedWebSocket extends AbstractMultiaddrConnection {
  private waitingForDrain = false;

  constructor(
    private readonly socket: AcceptedSocket,
    init: AbstractMultiaddrConnectionInit,
  ) {
    super(init);
    socket.on('message', (data: Buffer) => this.onData(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)));
    // 1006 is what ws reports when the socket ended without a closing handshake (or was terminated).
    socket.once('close', (code: number) => (code === 1006 ? this.onRemoteReset() : this.onTransportClosed()));
  }

  sendData(data: Parameters<AbstractMultiaddrConnection['sendData']>[0]) {
    for (const chunk of data) this.socket.send(chunk, (err) => (err ? this.abort(err) : this.drained()));
    const canSendMore = this.socket.bufferedAmount < MAX_BUFFERED_BYTES;
    if (!canSendMore) this.waitingForDrain = true;
    return { sentBytes: data.byteLength, canSendMore };
  }

  private drained(): void {
    if (this.waitingForDrain && this.socket.bufferedAmount < MAX_BUFFERED_BYTES) {
      this.waitingForDrain = false;
      this.safeDispatchEvent('drain');
    }
  }

  sendReset(): void {
    this.socket.terminate();
  }

  async sendClose(): Promise<void> {
    this.socket.close();
  }

  sendPause(): void {
    this.socket.pause();
  }

  sendResume(): void {
    this.socket.resume();
  }
}

class SharedPortListener extends TypedEventEmitter<ListenerEvents> implements Listener {
  private readonly wsServer = new (besideLibp2pWebSockets().WebSocketServer)({ noServer: true, maxPayload: MAX_WS_MESSAGE_BYTES });
  private readonly sockets = new Set<AcceptedSocket>();
  private readonly shutdown = new AbortController();
  private listening: Multiaddr | undefined;

  constructor(
    private readonly server: HubServer,
    private readonly secure: boolean,
    private readonly upgrader: Upgrader,
    private readonly logger: ComponentLogger,
  ) {
    super();
  }

  async listen(address: Multiaddr): Promise<void> {
    if (!this.server.listening) throw new Error('the hub starts its HTTP server before libp2p listens on its port');
    this.listening = address;
    this.server.on('upgrade', this.onUpgrade);
    this.safeDispatchEvent('listening');
  }

  getAddrs(): Multiaddr[] {
    if (!this.listening || !this.server.listening) return [];
    const { port } = this.server.address() as AddressInfo;
    return getThinWaistAddresses(this.listening, port).map((a) => a.encapsulate(this.secure ? '/tls/ws' : '/ws'));
  }

  updateAnnounceAddrs(): void {}

  async close(): Promise<void> {
    this.server.off('upgrade', this.onUpgrade);
    this.shutdown.abort();
    for (const socket of this.sockets) socket.terminate();
    await new Promise<void>((done) => this.wsServer.close(() => done()));
    this.safeDispatchEvent('close');
  }

  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    this.wsServer.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req));
  };

  private accept(ws: AcceptedSocket, req: IncomingMessage): void {
    guardAcceptedSocket(ws, req);
    this.sockets.add(ws);
    ws.once('close', () => this.sockets.delete(ws));
    const log = this.logger.forComponent('webloco:hub:websockets');
    let connection: AcceptedWebSocket;
    try {
      const remote = ipPortToMultiaddr(req.socket.remoteAddress ?? '0.0.0.0', req.socket.remotePort ?? 0);
      connection = new AcceptedWebSocket(ws, {
        remoteAddr: remote.encapsulate(this.secure ? '/tls/ws' : '/ws'),
        direction: 'inbound',
        log,
      });
    } catch (err) {
      log.error('inbound connection from %s refused - %s', req.socket.remoteAddress, errorMessage(err));
      ws.terminate();
      return;
    }
    this.upgrader.upgradeInbound(connection, { signal: this.shutdown.signal }).catch((err: unknown) => {
      log.error('inbound connection failed to upgrade - %s', errorMessage(err));
      connection.abort(err instanceof Error ? err : new Error(String(err)));
    });
  }
}

class SharedPortWebSockets implements Transport {
  readonly [transportSymbol] = true;
  readonly [Symbol.toStringTag] = 'webloco/shared-port-websockets';
  readonly [serviceCapabilities] = ['@libp2p/transport'];
  private readonly dialer: Transport;

  constructor(
    private readonly components: WebSocketsComponents,
    private readonly server: HubServer,
    private readonly secure: boolean,
  ) {
    this.dialer = webSockets()(components);
  }

  dial(address: Multiaddr, options: DialTransportOptions) {
    return this.dialer.dial(address, options);
  }

  createListener(options: CreateListenerOptions): Listener {
    return new SharedPortListener(this.server, this.secure, options.upgrader, this.components.logger);
  }

  /** `/ip4|ip6/<host>/tcp/<port>/ws`, or `/tls/ws` when secure: the hub's own port. */
  listenFilter = (addresses: Multiaddr[]): Multiaddr[] =>
    addresses.filter((a) => {
      const names = a.getComponents().map((c) => c.name);
      return /^ip[46]$/.test(names[0] ?? '') && names.slice(1).join('/') === (this.secure ? 'tcp/tls/ws' : 'tcp/ws');
    });

  dialFilter = (addresses: Multiaddr[]): Multiaddr[] => this.dialer.dialFilter(addresses);
}

/**
 * libp2p's WebSockets transport listening on `server`'s port (already listening: the hub's HTTP
 * or, when `secure`, HTTPS server): listen on `/ip4/<host>/tcp/<port>/ws` (`/tls/ws` when secure).
 */
export function sharedPortWebSockets(server: HubServer, o: { secure: boolean }) {
  return (components: WebSocketsComponents): Transport => new SharedPortWebSockets(components, server, o.secure);
}
