// The client-facing listeners: STOMP over TCP (61613), STOMP over TLS (stomp+ssl, 61612),
// STOMP over WebSocket (ws, 61614) and over secure WebSocket (wss, 61615, same certificate as
// stomp+ssl); MQTT over TCP (mqtt, 1883) and TLS (mqtts, 8883, the same certificate), and MQTT
// over the same ws/wss listeners, picked by the WebSocket subprotocol (`mqtt`). Each accepted socket becomes a Transport handed to `accept`, which returns the
// sink (normally a StompConnection) that gets its bytes and its close. startListeners opens
// the ones the config turns on; see docs/security.md "Client TLS and WebSocket origins".
import { createServer, type Server, type Socket, type AddressInfo } from 'node:net';
import { createServer as createTlsServer, type TLSSocket, type Server as TlsServer } from 'node:tls';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { WebSocketServer, WebSocket, type RawData, type ServerOptions as WsServerOptions } from 'ws';
import { ConfigError } from '@hawser/config';
import type { Logger } from '@hawser/observability';
import type { Config } from '../config';
import type { GatewayMetrics, Protocol } from '../metrics';
import type { Transport, TransportSink, TlsInfo } from './transport';
import { CertificateReloader, loadSecureContextOptions, serverOptions, tlsConfigured, tlsInfoOf } from './tls';

export type { Transport, TransportSink, TlsInfo, PeerCertificate } from './transport';

export type Accept = (transport: Transport) => TransportSink;

/** How long a closing connection may take to flush before it is cut. */
const LINGER_MS = 2_000;

/**
 * TCP keepalive on every client socket, first probe after this much idleness: a peer that
 * vanished (host down, NAT entry dropped) is found by the kernel even when it declined
 * STOMP heart-beats (heartbeat.idleTimeout bounds the ones that are alive and silent).
 */
const KEEPALIVE_MS = 60_000;

/**
 * Corked bytes that make a TCP connection flush before the end of the turn: about six 1 KiB
 * MESSAGEs and their RECEIPTs. A turn that handles a whole read of pipelined SENDs then lets
 * the client start on the first receipts while the rest are made, instead of after all of
 * them (non-persistent window 64, client on the master: median 33.6k -> 35.8k msg/s at 64 KiB
 * -> 8 KiB, 5 and 3 runs; persistent rows level; docs/benchmarks.md "Session 22").
 */
const CORK_FLUSH_BYTES = 8 * 1024;

/** STOMP over WebSocket subprotocols, best first (the STOMP 1.2 spec's names). */
export const WS_SUBPROTOCOLS = ['v12.stomp', 'v11.stomp', 'v10.stomp'] as const;

/** MQTT over WebSocket subprotocols [MQTT-6.0.0-3]: 3.1.1's name, and 3.1's. */
export const MQTT_WS_SUBPROTOCOLS = ['mqtt', 'mqttv3.1'] as const;

/** A TCP or TLS socket (a TLSSocket is a net.Socket: the same cork/pause/end). */
class TcpTransport implements Transport {
  readonly remote: string;
  constructor(private readonly socket: Socket, readonly protocol: 'stomp' | 'stomp+ssl' | 'mqtt' | 'mqtts' = 'stomp', readonly tls?: TlsInfo) {
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
  onDrained: (() => void) | undefined;
  constructor(private readonly ws: WebSocket, readonly remote: string, readonly protocol: 'ws' | 'wss' | 'mqtt+ws' | 'mqtt+wss' = 'ws', readonly tls?: TlsInfo) {}
  get buffered(): number { return this.ws.bufferedAmount; }
  write(data: Buffer, done?: (err?: Error) => void): void {
    if (this.ws.readyState !== WebSocket.OPEN) { done?.(new Error('websocket closed')); return; }
    // Text frames when the bytes are UTF-8 (what browser STOMP clients expect), binary otherwise;
    // MQTT is always binary [MQTT-6.0.0-1].
    this.ws.send(data, { binary: this.protocol.startsWith('mqtt') || !isUtf8(data) }, (err) => {
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

/** What the listeners report to their owner besides accepted transports. */
export interface ListenerHooks {
  accept: Accept;
  /** An error on an accepted socket (a reset, a write after close): routine, logged at debug. */
  onSocketError(e: Error): void;
  /** A connection refused before it became a Transport (a WebSocket Origin not allowed). */
  onRefused?(protocol: Protocol, reason: 'ORIGIN_REFUSED', remote: string, message: string): void;
  /** A TLS handshake that failed (plaintext on a TLS port, an untrusted client certificate...). */
  onTlsError?(protocol: 'stomp+ssl' | 'wss' | 'mqtts', e: Error, remote: string): void;
}

function listening(server: Server, port: number, host: string, close: () => Promise<void>): Promise<Listener> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve({ port: (server.address() as AddressInfo).port, close });
    });
  });
}

function serveSocket(socket: Socket, transport: Transport, hooks: Pick<ListenerHooks, 'accept' | 'onSocketError'>): void {
  socket.setNoDelay(true).setKeepAlive(true, KEEPALIVE_MS);
  socket.on('error', hooks.onSocketError);
  const sink = hooks.accept(transport);
  socket.on('data', (chunk: Buffer) => sink.receive(chunk));
  socket.on('drain', () => sink.drained());
  socket.on('close', () => sink.transportClosed());
}

export function listenTcp(host: string, port: number, accept: Accept, onSocketError: (e: Error) => void, protocol: 'stomp' | 'mqtt' = 'stomp'): Promise<Listener> {
  const server: Server = createServer((socket) => serveSocket(socket, new TcpTransport(socket, protocol), { accept, onSocketError }));
  return listening(server, port, host, () => new Promise<void>((r) => server.close(() => r())));
}

/** STOMP over TLS (ActiveMQ's stomp+ssl), or MQTT over TLS. `options` are tls.createServer's (serverOptions). */
export function listenTls(host: string, port: number, options: Parameters<typeof createTlsServer>[0], hooks: ListenerHooks, protocol: 'stomp+ssl' | 'mqtts' = 'stomp+ssl'): Promise<Listener & { server: TlsServer }> {
  // 'secureConnection': the handshake is done, so the peer certificate is known before the
  // first byte reaches the protocol adapter.
  const server = createTlsServer(options, (socket: TLSSocket) => serveSocket(socket, new TcpTransport(socket, protocol, tlsInfoOf(socket)), hooks));
  server.on('tlsClientError', (e: Error, socket: TLSSocket) => {
    hooks.onTlsError?.(protocol, e, `${socket.remoteAddress}:${socket.remotePort}`);
    socket.destroy();
  });
  return listening(server, port, host, () => new Promise<void>((r) => server.close(() => r()))).then((l) => ({ ...l, server }));
}

/** The Origin check of ws.origins: '*' or exact origins (scheme://host[:port]). */
export function originPolicy(origins: readonly string[]): (origin: string | undefined) => boolean {
  if (origins.length === 0 || origins.includes('*')) return () => true;
  const allowed = new Set(origins.map((o) => {
    let url: URL | undefined;
    try { url = new URL(o); } catch { /* below */ }
    if (!url || url.origin === 'null' || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
      throw new ConfigError('ws.origins', `'${o}' is not an origin: expected scheme://host[:port] (e.g. https://app.example.com), or * for any`);
    }
    if (url.hostname.includes('*')) {
      throw new ConfigError('ws.origins', `'${o}': wildcards in a host are not supported; list each origin (scheme://host[:port]), or * for any`);
    }
    return url.origin;
  }));
  return (origin) => {
    // No Origin header: not a browser (a browser always sends it on a WebSocket upgrade),
    // so not the cross-site attack an allow-list stops. Non-browser clients pass.
    if (origin === undefined) return true;
    let normalized: string;
    try { normalized = new URL(origin).origin; } catch { return false; }
    return normalized !== 'null' && allowed.has(normalized);
  };
}

export interface WsListenOptions {
  maxFrameSize: number;
  /** Largest MQTT packet (mqtt.maxPacketSize): MQTT over WebSocket shares the listener. */
  maxPacketSize?: number;
  /** ws.origins (empty: any). */
  origins?: readonly string[];
  /** tls.createServer options: wss on an https server. Absent: plain ws. */
  tls?: Parameters<typeof createHttpsServer>[0];
}

export function listenWs(host: string, port: number, maxFrameSize: number, accept: Accept, onSocketError: (e: Error) => void): Promise<Listener>;
export function listenWs(host: string, port: number, options: WsListenOptions, hooks: ListenerHooks): Promise<Listener & { server?: HttpsServer }>;
export function listenWs(
  host: string, port: number, optionsOrMax: number | WsListenOptions, acceptOrHooks: Accept | ListenerHooks, onSocketError?: (e: Error) => void,
): Promise<Listener & { server?: HttpsServer }> {
  const opts: WsListenOptions = typeof optionsOrMax === 'number' ? { maxFrameSize: optionsOrMax } : optionsOrMax;
  const hooks: ListenerHooks = typeof acceptOrHooks === 'function' ? { accept: acceptOrHooks, onSocketError: onSocketError! } : acceptOrHooks;
  const protocol = opts.tls ? 'wss' as const : 'ws' as const;
  const allowed = originPolicy(opts.origins ?? []);
  const common: WsServerOptions = {
    // Larger than maxFrameSize, so an oversized STOMP frame reaches the parser and gets a
    // STOMP ERROR rather than a bare WebSocket close 1009.
    maxPayload: Math.max(2 * opts.maxFrameSize + 65536, (opts.maxPacketSize ?? 0) + 65536),
    // STOMP 1.2 "WebSocket": pick the highest version the client offers; a client offering
    // MQTT's subprotocol (and no STOMP one) speaks MQTT. A client offering none (or others)
    // still connects, as STOMP, without a Sec-WebSocket-Protocol in the answer.
    handleProtocols: (offered: Set<string>) =>
      WS_SUBPROTOCOLS.find((p) => offered.has(p)) ?? MQTT_WS_SUBPROTOCOLS.find((p) => offered.has(p)) ?? false,
    // RFC 6455 10.2: the server checks Origin to refuse browser pages it does not trust
    // (cross-site WebSocket hijacking); refused at the upgrade with 403.
    verifyClient: (info: { origin: string | undefined; req: IncomingMessage }, done: (ok: boolean, code?: number, message?: string) => void) => {
      const origin = info.origin ?? undefined;
      if (allowed(origin)) { done(true); return; }
      const remote = `${info.req.socket.remoteAddress}:${info.req.socket.remotePort}`;
      hooks.onRefused?.(protocol, 'ORIGIN_REFUSED', remote, `WebSocket Origin ${origin} is not in ws.origins`);
      done(false, 403, 'Forbidden');
    },
  };
  let https: HttpsServer | undefined;
  let wss: WebSocketServer;
  if (opts.tls) {
    // A request that is not an upgrade gets what ws's own server answers: 426.
    https = createHttpsServer(opts.tls, (_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(426, { 'Content-Type': 'text/plain' }).end('Upgrade Required');
    });
    https.on('tlsClientError', (e: Error, socket: TLSSocket) => {
      hooks.onTlsError?.('wss', e, `${socket.remoteAddress}:${socket.remotePort}`);
      socket.destroy();
    });
    wss = new WebSocketServer({ ...common, server: https });
  } else {
    wss = new WebSocketServer({ ...common, host, port });
  }
  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    req.socket.setKeepAlive(true, KEEPALIVE_MS);
    ws.on('error', hooks.onSocketError);
    const socket = req.socket;
    const tls = protocol === 'wss' ? tlsInfoOf(socket as TLSSocket) : undefined;
    const mqtt = (MQTT_WS_SUBPROTOCOLS as readonly string[]).includes(ws.protocol);
    const transport = new WsTransport(ws, `${socket.remoteAddress}:${socket.remotePort}`, mqtt ? (protocol === 'wss' ? 'mqtt+wss' : 'mqtt+ws') : protocol, tls);
    const sink = hooks.accept(transport);
    transport.onDrained = () => sink.drained();
    ws.on('message', (data: RawData) => sink.receive(toBuffer(data)));
    ws.on('close', () => sink.transportClosed());
  });
  if (https) {
    const server = https;
    // ws does not close a server it was given: close both.
    return listening(server, port, host, () => new Promise<void>((r) => wss.close(() => server.close(() => r())))).then((l) => ({ ...l, server }));
  }
  return new Promise((resolve, reject) => {
    wss.once('error', reject);
    wss.once('listening', () => {
      wss.off('error', reject);
      wss.on('error', hooks.onSocketError);
      resolve({
        port: (wss.address() as AddressInfo).port,
        close: () => new Promise<void>((r) => wss.close(() => r())),
      });
    });
  });
}

/** The listeners a gateway serves; a port is 0 when its listener is off. */
export interface ClientListeners {
  stompPort: number;
  wsPort: number;
  /** STOMP over TLS (stomp+ssl://); 0 unless ssl.cert is set and ssl.enabled. */
  sslPort: number;
  /** STOMP over secure WebSocket (wss://); 0 unless ssl.cert is set and wss.enabled. */
  wssPort: number;
  /** MQTT over TCP; 0 unless mqtt.enabled. */
  mqttPort: number;
  /** MQTT over TLS; 0 unless mqtts.enabled (needs ssl.cert). */
  mqttsPort: number;
  /** Re-reads ssl.cert/key/ca now (they are also reloaded when the files change); false when they did not load. */
  reloadTls(): boolean;
  close(): Promise<void>;
}

export interface StartListenersOptions extends ListenerHooks {
  log: Logger;
  metrics: GatewayMetrics;
  /** Poll interval of the certificate files (tests make it short). Default 2 s. */
  certPollMs?: number;
}

/**
 * Opens the listeners the config turns on: stomp and ws unless disabled, stomp+ssl and wss
 * when ssl.cert is set. Checks the TLS files and ws.origins first (ConfigError naming the
 * key); on a failure closes whatever it had opened.
 */
export async function startListeners(config: Pick<Config, 'stomp' | 'ws' | 'ssl' | 'wss' | 'limits' | 'mqtt' | 'mqtts'>, opts: StartListenersOptions): Promise<ClientListeners> {
  const { ssl } = config;
  const secure = tlsConfigured(ssl);
  if (!secure && (ssl.key || ssl.ca || ssl.requestCert || ssl.requireClientCert)) {
    throw new ConfigError('ssl.cert', `not set, but ${ssl.key ? 'ssl.key' : ssl.ca ? 'ssl.ca' : ssl.requestCert ? 'ssl.requestCert' : 'ssl.requireClientCert'} is: the TLS listeners need the server certificate (a PEM file)`);
  }
  const tlsOn = secure && ssl.enabled;
  const wssOn = secure && config.wss.enabled;
  if (config.mqtts.enabled && !secure) {
    throw new ConfigError('mqtts.enabled', 'MQTT over TLS needs the server certificate: set ssl.cert and ssl.key (the mqtts listener shares them with stomp+ssl), or turn mqtts.enabled off');
  }
  const mqttsOn = secure && config.mqtts.enabled;
  if (!config.stomp.enabled && !config.ws.enabled && !tlsOn && !wssOn && !config.mqtt.enabled && !mqttsOn) {
    throw new ConfigError('stomp.enabled', 'every client listener is off (stomp.enabled, ws.enabled false and no TLS listener): turn one on, or set ssl.cert and ssl.key for stomp+ssl and wss');
  }
  originPolicy(config.ws.origins); // validates ws.origins before anything listens
  const context = secure ? loadSecureContextOptions(ssl) : undefined;
  const hooks: ListenerHooks = {
    ...opts,
    onTlsError: (protocol, e, remote) => {
      opts.metrics.tlsHandshakeFailures.inc({ protocol });
      opts.onTlsError?.(protocol, e, remote);
    },
  };
  const reloader = context
    ? new CertificateReloader(ssl, opts.log, (result) => opts.metrics.tlsReloads.inc({ result }), opts.certPollMs)
    : undefined;
  const opened: Listener[] = [];
  const open = async <L extends Listener>(p: Promise<L>): Promise<L> => { const l = await p; opened.push(l); return l; };
  try {
    const stomp = config.stomp.enabled ? await open(listenTcp(config.stomp.host, config.stomp.port, opts.accept, opts.onSocketError)) : undefined;
    const ws = config.ws.enabled
      ? await open(listenWs(config.ws.host, config.ws.port, { maxFrameSize: config.limits.maxFrameSize, maxPacketSize: config.mqtt.maxPacketSize, origins: config.ws.origins }, hooks))
      : undefined;
    const tls = tlsOn && context ? await open(listenTls(ssl.host, ssl.port, serverOptions(ssl, context), hooks)) : undefined;
    const wss = wssOn && context
      ? await open(listenWs(config.wss.host, config.wss.port, { maxFrameSize: config.limits.maxFrameSize, maxPacketSize: config.mqtt.maxPacketSize, origins: config.ws.origins, tls: serverOptions(ssl, context) }, hooks))
      : undefined;
    const mqtt = config.mqtt.enabled ? await open(listenTcp(config.mqtt.host, config.mqtt.port, opts.accept, opts.onSocketError, 'mqtt')) : undefined;
    const mqtts = mqttsOn && context ? await open(listenTls(config.mqtts.host, config.mqtts.port, serverOptions(ssl, context), hooks, 'mqtts')) : undefined;
    if (tls) reloader!.add(tls.server);
    if (mqtts) reloader!.add(mqtts.server);
    if (wss?.server) reloader!.add(wss.server);
    reloader?.start();
    return {
      stompPort: stomp?.port ?? 0,
      wsPort: ws?.port ?? 0,
      sslPort: tls?.port ?? 0,
      wssPort: wss?.port ?? 0,
      mqttPort: mqtt?.port ?? 0,
      mqttsPort: mqtts?.port ?? 0,
      reloadTls: () => reloader?.reload() ?? false,
      close: async () => {
        reloader?.stop();
        await Promise.all(opened.map((l) => l.close().catch(() => undefined)));
      },
    };
  } catch (e) {
    reloader?.stop();
    await Promise.all(opened.map((l) => l.close().catch(() => undefined)));
    throw e;
  }
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
