// Byte transports under a STOMP connection: TCP (node:net), TLS (node:tls) and WebSocket
// (`ws`). The connection sees only this small interface, so it does not care which one
// carries its frames.
import * as net from 'node:net';
import * as tls from 'node:tls';
import { isUtf8 } from 'node:buffer';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import type { Endpoint } from './uri';
import { ConnectionFailedError, InvalidUriError } from './errors';

export interface Transport {
  /** Writes one encoded frame (or a heart-beat). Over WebSocket each call is one message. */
  write(data: Buffer): void;
  /** Graceful close (TCP FIN / WebSocket close handshake). */
  close(): void;
  /** Immediate close. */
  destroy(): void;
  onData(listener: (chunk: Buffer) => void): void;
  /** Called once, when the transport is closed for any reason. */
  onClose(listener: (error?: Error) => void): void;
  readonly description: string;
}

// STOMP over WebSocket subprotocol names (as registered by stomp.js and brokers).
export const WS_SUBPROTOCOLS = ['v12.stomp', 'v11.stomp', 'v10.stomp'];

export interface DialOptions {
  /** Abort the dial after this many ms. */
  timeoutMs: number;
  /** TLS options for stomp+ssl:// and wss://. */
  tls?: tls.ConnectionOptions;
}

/**
 * The TLS options of one dial: ConnectOptions.tls, then the URI's own (?ca=, cert=, key=,
 * servername=, verifyHostName=) read from their files now, so a renewed CA file is used by
 * the next reconnect.
 */
export function tlsOptionsFor(endpoint: Endpoint, base: tls.ConnectionOptions = {}): tls.ConnectionOptions {
  const t = endpoint.tls;
  // RFC 6066: SNI carries host names, never addresses (Node warns when given one).
  const servername = t?.servername ?? base.servername ?? (net.isIP(endpoint.host) ? undefined : endpoint.host);
  const out: tls.ConnectionOptions = { ...base, ...(servername ? { servername } : {}) };
  if (!t) return out;
  const read = (name: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new InvalidUriError(`cannot read the ${name} file ${file} named in '${endpoint.uri}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  if (t.ca) out.ca = read('ca', t.ca);
  if (t.cert) out.cert = read('cert', t.cert);
  if (t.key) out.key = read('key', t.key);
  // The chain is still verified against the CA; only the name check is skipped.
  if (t.verifyHostName === false) out.checkServerIdentity = () => undefined;
  return out;
}

export function dialTransport(endpoint: Endpoint, opts: DialOptions): Promise<Transport> {
  switch (endpoint.transport) {
    case 'tcp':
    case 'tls':
      return dialSocket(endpoint, opts);
    case 'ws':
    case 'wss':
      return dialWebSocket(endpoint, opts);
  }
}

function dialSocket(endpoint: Endpoint, opts: DialOptions): Promise<Transport> {
  return new Promise((resolve, reject) => {
    const socket: net.Socket = endpoint.transport === 'tls'
      ? tls.connect({ host: endpoint.host, port: endpoint.port, ...tlsOptionsFor(endpoint, opts.tls) })
      : net.connect({ host: endpoint.host, port: endpoint.port });
    const readyEvent = endpoint.transport === 'tls' ? 'secureConnect' : 'connect';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ConnectionFailedError(`could not connect to ${endpoint.uri} within ${opts.timeoutMs} ms`));
    }, opts.timeoutMs);
    const onError = (err: Error) => {
      clearTimeout(timer);
      reject(new ConnectionFailedError(`could not connect to ${endpoint.uri}: ${err.message}`, { cause: err }));
    };
    socket.once('error', onError);
    socket.once(readyEvent, () => {
      clearTimeout(timer);
      socket.off('error', onError);
      socket.setNoDelay(true);
      resolve(socketTransport(socket, endpoint.uri));
    });
  });
}

/** Corked bytes that make the socket flush before the end of the turn. */
const CORK_FLUSH_BYTES = 8 * 1024;

function socketTransport(socket: net.Socket, description: string): Transport {
  let lastError: Error | undefined;
  socket.on('error', (err) => { lastError = err; });
  let corked = false;
  const uncork = () => { corked = false; socket.uncork(); };
  return {
    description,
    // Frames written during one turn (a pipelined window, a burst of ACKs) leave in ONE
    // writev instead of one write syscall each (~22% of the client's CPU): cork on the
    // turn's first write, uncork on the next tick -- before any I/O, so no added latency.
    write: (data) => {
      if (socket.destroyed) return;
      if (!corked) {
        corked = true;
        socket.cork();
        process.nextTick(uncork);
      }
      socket.write(data);
      // A big turn (a window's worth of SENDs) starts leaving at 8 KiB, so the broker works
      // on its first frames while the rest are written (non-persistent window 64: +15% msg/s).
      if (socket.writableLength >= CORK_FLUSH_BYTES) uncork();
    },
    close: () => socket.end(),
    destroy: () => socket.destroy(),
    onData: (listener) => socket.on('data', listener),
    onClose: (listener) => socket.once('close', () => listener(lastError)),
  };
}

function dialWebSocket(endpoint: Endpoint, opts: DialOptions): Promise<Transport> {
  return new Promise((resolve, reject) => {
    const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
    const url = `${endpoint.transport}://${host}:${endpoint.port}${endpoint.path}`;
    const secure = endpoint.transport === 'wss' ? tlsOptionsFor(endpoint, opts.tls) : {};
    const ws = new WebSocket(url, WS_SUBPROTOCOLS, { handshakeTimeout: opts.timeoutMs, ...secure });
    const onError = (err: Error) => {
      reject(new ConnectionFailedError(`could not connect to ${endpoint.uri}: ${err.message}`, { cause: err }));
    };
    ws.once('error', onError);
    ws.once('open', () => {
      ws.off('error', onError);
      resolve(webSocketTransport(ws, endpoint.uri));
    });
  });
}

function webSocketTransport(ws: WebSocket, description: string): Transport {
  let lastError: Error | undefined;
  ws.on('error', (err) => { lastError = err; });
  return {
    description,
    // STOMP over WebSocket: one frame per message; text when the bytes are UTF-8 (what
    // browser clients send), binary otherwise.
    write: (data) => { if (ws.readyState === WebSocket.OPEN) ws.send(data, { binary: !isUtf8(data) }); },
    close: () => ws.close(1000),
    destroy: () => ws.terminate(),
    onData: (listener) => ws.on('message', (data: WebSocket.RawData) => {
      listener(Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data));
    }),
    onClose: (listener) => ws.once('close', () => listener(lastError)),
  };
}
