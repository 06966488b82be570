// Node only: every WebSocket a Node libp2p node accepts gets an 'error' listener and a message
// size limit. @libp2p/websockets' listener hands accepted `ws` sockets to libp2p without an
// 'error' listener, so one malformed frame from anyone (a reserved opcode, an unmasked frame, RSV1
// without an extension, close code 1006, a declared length over ws's limit) made `ws` emit an
// unhandled 'error' and killed the process. The listener offers no hook for either, so this wraps
// `WebSocketServer.prototype.handleUpgrade` of the one `ws` that @libp2p/websockets loads: a
// protocol error now closes that connection only and logs one line. Installed by createNodePeer
// when it listens; installing twice is a no-op. The hub's own listener
// (src/hub/shared-port.ts) accepts sockets with that same `ws` (`besideLibp2pWebSockets`) and
// guards each with `guardAcceptedSocket`.
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import { CodedError, errorMessage } from '../base/errors.ts';
import { printable } from '../base/log-text.ts';

/**
 * Largest WebSocket message a listener accepts. libp2p sends Noise frames over WebSockets, each at
 * most 65,535 bytes of ciphertext (+2 bytes of length during the handshake); multistream-select's
 * messages before them are tiny. 256 KiB is 4× that, and bounds what one connection can make the
 * hub buffer (ws's own default is 100 MiB).
 */
export const MAX_WS_MESSAGE_BYTES = 256 * 1024;
/** ws 8's default maxPayload: a server that kept it chose nothing, and gets ours. */
const WS_DEFAULT_MAX_PAYLOAD = 100 * 1024 * 1024;

/** The parts of ws 8's WebSocket and WebSocketServer that this module and the hub's listener touch. */
export interface AcceptedSocket {
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'message', listener: (data: Buffer) => void): unknown;
  once(event: 'close', listener: (code: number) => void): unknown;
  send(data: Uint8Array, done: (err?: Error) => void): void;
  readonly bufferedAmount: number;
  pause(): void;
  resume(): void;
  close(code?: number, reason?: string | Buffer): void;
  terminate(): void;
}
type UpgradeCallback = (socket: AcceptedSocket, req: IncomingMessage) => void;
interface WsServer {
  options: { maxPayload?: number };
  handleUpgrade: (this: WsServer, req: IncomingMessage, socket: Duplex, head: Buffer, cb: UpgradeCallback) => void;
}
interface WsModule {
  WebSocketServer: {
    prototype: WsServer;
    new (options: { noServer: true; maxPayload: number }): WsServer & { close(done: () => void): void };
  };
}

/** The `ws` module @libp2p/websockets loads (resolved from its own folder: the very copy its listener imports); ws 8 only. */
export function besideLibp2pWebSockets(): WsModule {
  const requireBesideListener = createRequire(import.meta.resolve('@libp2p/websockets'));
  const { version } = requireBesideListener('ws/package.json') as { version: string };
  if (!version.startsWith('8.'))
    throw new CodedError(
      'unsupported-ws',
      `@libp2p/websockets now loads ws ${version}; src/swarm/ws-guard.ts was written for ws 8: check its hooks and update it`,
    );
  return requireBesideListener('ws') as WsModule;
}

let installed = false;

/** Guards every WebSocket server of the `ws` that @libp2p/websockets uses (see the file's comment). */
export function guardWebSocketListeners(): void {
  if (installed) return;
  const prototype = besideLibp2pWebSockets().WebSocketServer.prototype;
  const handleUpgrade = prototype.handleUpgrade;
  prototype.handleUpgrade = function (req, socket, head, cb) {
    if ((this.options.maxPayload ?? WS_DEFAULT_MAX_PAYLOAD) === WS_DEFAULT_MAX_PAYLOAD) this.options.maxPayload = MAX_WS_MESSAGE_BYTES;
    handleUpgrade.call(this, req, socket, head, (accepted, request) => {
      guardAcceptedSocket(accepted, request);
      cb(accepted, request);
    });
  };
  installed = true;
}

const guarded = new WeakSet<AcceptedSocket>();

/** One accepted socket's guard: a protocol error closes it (one log line), and libp2p's close(1006) terminates it. Idempotent. */
export function guardAcceptedSocket(socket: AcceptedSocket, req: IncomingMessage): void {
  if (guarded.has(socket)) return;
  guarded.add(socket);
  const from = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
  socket.on('error', (err) => {
    console.error(`p2p: closed the WebSocket connection from ${printable(from)}: ${printable(errorMessage(err))}`);
    socket.terminate();
  });
  // libp2p resets a connection with close(1006), a code ws refuses to send (it throws, and libp2p
  // only logs that), which would leave the socket open: end it at once instead.
  const close = socket.close.bind(socket);
  socket.close = (code, reason) => (code === 1006 ? socket.terminate() : close(code, reason));
}
