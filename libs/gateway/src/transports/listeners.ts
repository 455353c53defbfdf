// The client-facing listeners: STOMP over TCP (61613) and STOMP over WebSocket (61614).
// Each accepted socket becomes a Transport handed to `accept`, which returns the sink
// (normally a StompConnection) that gets its bytes and its close.
import { createServer, type Server, type Socket, type AddressInfo } from 'node:net';
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import type { Transport, TransportSink } from './transport';

export type { Transport, TransportSink } from './transport';

export type Accept = (transport: Transport) => TransportSink;

/** How long a closing connection may take to flush before it is cut. */
const LINGER_MS = 2_000;

/**
 * TCP keepalive on every client socket, first probe after this much idleness: a peer that
 * vanished (host down, NAT entry dropped) is found by the kernel even when it declined
 * STOMP heart-beats (heartbeat.idleTimeout bounds the ones that are alive and silent).
 */
const KEEPALIVE_MS = 60_000;

/** Corked bytes that make a TCP connection flush before the end of the turn. */
const CORK_FLUSH_BYTES = 64 * 1024;

/** STOMP over WebSocket subprotocols, best first (the STOMP 1.2 spec's names). */
export const WS_SUBPROTOCOLS = ['v12.stomp', 'v11.stomp', 'v10.stomp'] as const;

class TcpTransport implements Transport {
  readonly protocol = 'stomp' as const;
  readonly remote: string;
  constructor(private readonly socket: Socket) {
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
  }
  private corked = false;
  private readonly uncork = (): void => { this.corked = false; this.socket.uncork(); };
  get buffered(): number { return this.socket.writableLength; }
  write(data: Buffer, done?: (err?: Error) => void): void {
    if (this.socket.destroyed || this.socket.writableEnded) { done?.(new Error('socket closed')); return; }
    // The frames of one turn (the receipts and MESSAGEs of one store batch) leave in ONE
    // writev: cork on the turn's first write, uncork on the next tick (before any I/O, so
    // no added latency). One write syscall per frame was ~18% of the gateway's CPU.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    this.socket.write(data, done ? (err) => done(err ?? undefined) : undefined);
    // A big turn (a page of deliveries) goes out now rather than counting as a slow
    // client's backlog against limits.writeBufferHigh.
    if (this.socket.writableLength >= CORK_FLUSH_BYTES) this.uncork();
  }
  pauseReading(): void { this.socket.pause(); }
  resumeReading(): void { this.socket.resume(); }
  end(): void {
    // Keep reading (the connection discards it) so the client's own close is seen at once
    // and its slot frees; the linger timer cuts a client that never closes.
    this.socket.resume();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
  }
  destroy(): void { this.socket.destroy(); }
}

class WsTransport implements Transport {
  readonly protocol = 'ws' as const;
  onDrained: (() => void) | undefined;
  constructor(private readonly ws: WebSocket, readonly remote: string) {}
  get buffered(): number { return this.ws.bufferedAmount; }
  write(data: Buffer, done?: (err?: Error) => void): void {
    if (this.ws.readyState !== WebSocket.OPEN) { done?.(new Error('websocket closed')); return; }
    // Text frames when the bytes are UTF-8 (what browser STOMP clients expect), binary otherwise.
    this.ws.send(data, { binary: !isUtf8(data) }, (err) => {
      done?.(err ?? undefined);
      if (this.ws.bufferedAmount === 0) this.onDrained?.();
    });
  }
  pauseReading(): void { if (this.ws.readyState === WebSocket.OPEN) this.ws.pause(); }
  resumeReading(): void { if (this.ws.readyState === WebSocket.OPEN) this.ws.resume(); }
  end(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000);
    setTimeout(() => this.ws.terminate(), LINGER_MS).unref();
  }
  destroy(): void { this.ws.terminate(); }
}

export interface Listener {
  port: number;
  /** Stops accepting; existing connections are closed by their owners. */
  close(): Promise<void>;
}

export function listenTcp(host: string, port: number, accept: Accept, onSocketError: (e: Error) => void): Promise<Listener> {
  const server: Server = createServer((socket) => {
    socket.setNoDelay(true).setKeepAlive(true, KEEPALIVE_MS);
    socket.on('error', onSocketError);
    const sink = accept(new TcpTransport(socket));
    socket.on('data', (chunk: Buffer) => sink.receive(chunk));
    socket.on('drain', () => sink.drained());
    socket.on('close', () => sink.transportClosed());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
  });
}

export function listenWs(host: string, port: number, maxFrameSize: number, accept: Accept, onSocketError: (e: Error) => void): Promise<Listener> {
  const wss = new WebSocketServer({
    host,
    port,
    // Larger than maxFrameSize, so an oversized STOMP frame reaches the parser and gets a
    // STOMP ERROR rather than a bare WebSocket close 1009.
    maxPayload: 2 * maxFrameSize + 65536,
    // STOMP 1.2 "WebSocket": pick the highest version the client offers. A client offering
    // none (or others) still connects, without a Sec-WebSocket-Protocol in the answer.
    handleProtocols: (offered: Set<string>) => WS_SUBPROTOCOLS.find((p) => offered.has(p)) ?? false,
  });
  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    req.socket.setKeepAlive(true, KEEPALIVE_MS);
    ws.on('error', onSocketError);
    const transport = new WsTransport(ws, `${req.socket.remoteAddress}:${req.socket.remotePort}`);
    const sink = accept(transport);
    transport.onDrained = () => sink.drained();
    ws.on('message', (data: RawData) => sink.receive(toBuffer(data)));
    ws.on('close', () => sink.transportClosed());
  });
  return new Promise((resolve, reject) => {
    wss.once('error', reject);
    wss.once('listening', () => {
      wss.off('error', reject);
      wss.on('error', onSocketError);
      resolve({
        port: (wss.address() as AddressInfo).port,
        close: () => new Promise<void>((r) => wss.close(() => r())),
      });
    });
  });
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
