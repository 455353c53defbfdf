// Logs, metrics and health for every Hawser service.
//
// - Logs: one JSON line per event (pino) carrying service, group and node; `warnEvery`
//   rate-limits a repeated warning so a flapping peer cannot flood the log.
// - Metrics: one prom-client Registry per service (not the global one, so tests can run
//   several services in one process), served on GET /metrics.
// - Health: GET /healthz answers 200 while the process is alive (and, where the service says,
//   healthy: 503 once e.g. its disk failed); GET /readyz answers 200
//   when the service says it is ready (e.g. the store has opened its journal), 503 before.
import { createServer, type Server, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import * as prom from 'prom-client';

export { prom };
export type Logger = pino.Logger;

export interface LoggerOptions {
  service: string;
  node?: string;
  group?: string;
  level?: string;
}

export function createLogger(opts: LoggerOptions): Logger {
  const base: Record<string, string> = { service: opts.service };
  if (opts.node) base.node = opts.node;
  if (opts.group) base.group = opts.group;
  return pino({ level: opts.level ?? process.env.HAWSER_LOG_LEVEL ?? 'info', base, timestamp: pino.stdTimeFunctions.isoTime });
}

/**
 * Returns a function that logs `msg` at most once per `intervalMs` for each key, and
 * reports how many were suppressed in between.
 */
export function warnEvery(log: Logger, intervalMs: number): (key: string, fields: Record<string, unknown>, msg: string) => void {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (key, fields, msg) => {
    const now = Date.now();
    const seen = last.get(key);
    if (seen && now - seen.at < intervalMs) { seen.suppressed++; return; }
    log.warn({ ...fields, suppressed: seen?.suppressed ?? 0 }, msg);
    last.set(key, { at: now, suppressed: 0 });
  };
}

export function createRegistry(service: string, labels: Record<string, string> = {}): prom.Registry {
  const registry = new prom.Registry();
  registry.setDefaultLabels({ service, ...labels });
  prom.collectDefaultMetrics({ register: registry, prefix: 'hawser_process_' });
  return registry;
}

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface HttpEndpointOptions {
  host: string;
  port: number;
  registry: prom.Registry;
  /** Readiness: true when the service can do its job. Default: always ready. */
  ready?: () => boolean;
  /** Liveness: false when the process is broken beyond serving (e.g. its disk failed): /healthz answers 503. Default: healthy while alive. */
  healthy?: () => boolean;
  /** Extra JSON endpoints, e.g. { '/status': handler }. */
  routes?: Record<string, RouteHandler>;
  /** Told once when the endpoint is bound beyond loopback (it has no authentication). */
  log?: Logger;
}

const LOOPBACK_HOST = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

export interface HttpEndpoint {
  server: Server;
  port: number;
  close(): Promise<void>;
}

/** Starts the metrics/health HTTP server. Resolves once it listens (port 0 picks a free port). */
export function startHttpEndpoint(opts: HttpEndpointOptions): Promise<HttpEndpoint> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    if (path === '/metrics') {
      opts.registry.metrics().then(
        (text) => send(200, opts.registry.contentType, text),
        (e: Error) => send(500, 'text/plain', e.message),
      );
      return;
    }
    if (path === '/healthz') {
      const ok = opts.healthy ? opts.healthy() : true;
      return send(ok ? 200 : 503, 'application/json', ok ? '{"status":"ok"}\n' : '{"status":"unhealthy"}\n');
    }
    if (path === '/readyz') {
      const ok = opts.ready ? opts.ready() : true;
      return send(ok ? 200 : 503, 'application/json', JSON.stringify({ status: ok ? 'ready' : 'not ready' }) + '\n');
    }
    const route = opts.routes?.[path];
    if (route) {
      Promise.resolve(route(req, res)).catch((e: Error) => send(500, 'application/json', JSON.stringify({ error: e.message })));
      return;
    }
    send(404, 'application/json', '{"error":"not found"}\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      // /metrics, /healthz, /readyz (and /status, /topology) answer anyone who reaches them: on
      // loopback that is this host; elsewhere it is a choice the operator should see made.
      if (!LOOPBACK_HOST.test(opts.host)) {
        opts.log?.warn({ host: opts.host, port: (server.address() as AddressInfo).port, paths: ['/metrics', '/healthz', '/readyz', ...Object.keys(opts.routes ?? {})] },
          'the HTTP endpoint is bound beyond loopback and has no authentication: anyone who reaches it reads its metrics and status (bind http.host to 127.0.0.1, or restrict it with a firewall / NetworkPolicy)');
      }
      resolve({
        server,
        port: (server.address() as AddressInfo).port,
        close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
      });
    });
  });
}

/**
 * Installs SIGINT/SIGTERM handlers that run `stop` once, then exit 0 (or 1 when stop
 * fails or takes longer than `timeoutMs`).
 */
export function onShutdown(log: Logger, stop: () => Promise<void>, timeoutMs = 10_000): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    const timer = setTimeout(() => { log.error({ timeoutMs }, 'stop timed out'); process.exit(1); }, timeoutMs);
    timer.unref();
    stop().then(
      () => { log.info('stopped'); process.exit(0); },
      (e: Error) => { log.error({ err: e }, 'stop failed'); process.exit(1); },
    );
  };
  process.on('SIGINT', () => handler('SIGINT'));
  process.on('SIGTERM', () => handler('SIGTERM'));
}

export { TallyCounter, TallyHistogram, type Tally } from './tally';
