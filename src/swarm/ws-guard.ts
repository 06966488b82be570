// Node only: every WebSocket a Node libp2p node accepts gets an 'error' listener and a message
// size limit. @libp2p/websockets' listener hands accepted `ws` sockets to libp2p without an
// 'error' listener, so one malformed frame from anyone (a reserved opcode, an unmasked frame, RSV1
// without an extension, close code 1006, a declared length over ws's limit) made `ws` emit an
// unhandled 'error' and killed the process. The listener offers no hook for either, so this wraps
// `WebSocketServer.prototype.handleUpgrade` of the one `ws` that @libp2p/websockets loads: a
// protocol error now closes that connection only and logs one line. Installed by the hub and by
// createNodePeer when it listens; installing twice is a no-op.
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
const MAX_WS_MESSAGE_BYTES = 256 * 1024;
/** ws 8's default maxPayload: a server that kept it chose nothing, and gets ours. */
const WS_DEFAULT_MAX_PAYLOAD = 100 * 1024 * 1024;

/** The parts of ws 8's WebSocket and WebSocketServer this module touches. */
interface AcceptedSocket {
  on(event: 'error', listener: (err: Error) => void): unknown;
  close(code?: number, reason?: string | Buffer): void;
  terminate(): void;
}
type UpgradeCallback = (socket: AcceptedSocket, req: IncomingMessage) => void;
interface WsServer {
  options: { maxPayload?: number };
  handleUpgrade: (this: WsServer, req: IncomingMessage, socket: Duplex, head: Buffer, cb: UpgradeCallback) => void;
}
interface WsModule {
  WebSocketServer: { prototype: WsServer };
}

let installed = false;

/** Guards every WebSocket server of the `ws` that @libp2p/websockets uses (see the file's comment). */
export function guardWebSocketListeners(): void {
  if (installed) return;
  // Resolved from @libp2p/websockets' own folder: the very copy its listener imports.
  const requireBesideListener = createRequire(import.meta.resolve('@libp2p/websockets'));
  const { version } = requireBesideListener('ws/package.json') as { version: string };
  if (!version.startsWith('8.'))
    throw new CodedError(
      'unsupported-ws',
      `@libp2p/websockets now loads ws ${version}; src/swarm/ws-guard.ts was written for ws 8: check its hooks and update it`,
    );
  const prototype = (requireBesideListener('ws') as WsModule).WebSocketServer.prototype;
  const handleUpgrade = prototype.handleUpgrade;
  prototype.handleUpgrade = function (req, socket, head, cb) {
    if ((this.options.maxPayload ?? WS_DEFAULT_MAX_PAYLOAD) === WS_DEFAULT_MAX_PAYLOAD) this.options.maxPayload = MAX_WS_MESSAGE_BYTES;
    handleUpgrade.call(this, req, socket, head, (accepted, request) => {
      guardSocket(accepted, request);
      cb(accepted, request);
    });
  };
  installed = true;
}

function guardSocket(socket: AcceptedSocket, req: IncomingMessage): void {
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
