// The console's HTTP server: the page (static files from apps/console/public, the front-end
// libraries from node_modules — nothing from a CDN), the JSON API the page calls, the live
// stream (Server-Sent Events: the view after every change), and /metrics, /healthz, /readyz.
//
//   GET  /api/session            {authRequired, user, csrf}
//   POST /api/login              {login, password} -> session cookie
//   POST /api/logout
//   GET  /api/view               the ClusterView now (view.ts), with `canAdmin` per destination
//   GET  /api/events             text/event-stream: `view` events (the same document) on every change
//   GET  /api/history?prefix=    chart series {name: [[ms, value], ...]}
//   GET  /api/browse?group=&destination=&limit=
//   POST /api/purge              {group, destination}
//   POST /api/send               {group, destination, body, headers?, persistent?}
//   POST /api/move               {group, from, to?, limit?}
//   POST /api/delete             {group, destination}: the destination and its messages (Admin.Delete)
//
// Every POST needs the `admin` permission of its destination (auth.ts) and goes to the group's
// master over the stores' Admin RPCs; the master answers after the change is durable.
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, normalize as normalizePath, sep } from 'node:path';
import type { Logger } from '@hawser/observability';
import type { prom } from '@hawser/observability';
import { AuthError, checkSameOrigin, ConsoleAuth, type ConsoleSession } from './auth';
import { StoreCallError } from './grpc';
import type { ConsoleMetrics } from './metrics';
import type { ConsoleModel } from './model';

const PUBLIC_DIR = join(__dirname, '..', 'public');
const MAX_BODY = 1024 * 1024;
/** Largest message body the page may send as a test message. */
const MAX_TEST_BODY = 256 * 1024;
/** Body bytes a browse shows per message. */
const PREVIEW_BYTES = 2048;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.png': 'image/png', '.svg': 'image/svg+xml', '.ico': 'image/x-icon',
};

/** The front-end libraries, served from node_modules at run time (no copy, no CDN). */
function vendorFiles(): Record<string, string> {
  const preact = dirname(require.resolve('preact/package.json'));
  const htm = dirname(require.resolve('htm'));
  return {
    '/vendor/preact.mjs': join(preact, 'dist', 'preact.mjs'),
    '/vendor/hooks.mjs': join(preact, 'hooks', 'dist', 'hooks.mjs'),
    '/vendor/htm.mjs': join(htm, 'htm.mjs'),
  };
}

// The page runs only its own scripts; nothing may frame it (clickjacking), no referrer leaves.
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

export class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
    this.name = 'HttpError';
  }
}

export interface ServerOptions {
  host: string;
  port: number;
  model: ConsoleModel;
  auth: ConsoleAuth;
  registry: prom.Registry;
  metrics: ConsoleMetrics;
  log: Logger;
  ready: () => boolean;
}

function previewOf(body: Buffer): { text: string; encoding: 'utf8' | 'base64'; size: number; truncated: boolean } {
  const cut = body.subarray(0, PREVIEW_BYTES);
  const text = cut.toString('utf8');
  // Not text (replacement characters or control bytes): show base64.
  const binary = text.includes('\uFFFD') || /[\u0000-\u0008\u000E-\u001F]/.test(text);
  return { text: binary ? cut.toString('base64') : text, encoding: binary ? 'base64' : 'utf8', size: body.length, truncated: body.length > PREVIEW_BYTES };
}

export class ConsoleServer {
  private server: Server | undefined;
  private readonly streams = new Set<ServerResponse>();
  private readonly vendor = vendorFiles();
  private unsubscribe: (() => void) | undefined;
  private pending: NodeJS.Timeout | undefined;
  port = 0;

  constructor(private readonly o: ServerOptions) {}

  async start(): Promise<number> {
    const server = createServer((req, res) => { void this.handle(req, res); });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port, this.o.host, () => { server.off('error', reject); resolve(); });
    });
    this.port = (server.address() as AddressInfo).port;
    // At most one push per 100 ms whatever the rate of changes (an election is several).
    this.unsubscribe = this.o.model.onChange(() => {
      if (this.pending || this.streams.size === 0) return;
      this.pending = setTimeout(() => { this.pending = undefined; this.push(); }, 100);
    });
    return this.port;
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    clearTimeout(this.pending);
    for (const s of this.streams) s.end();
    this.streams.clear();
    const server = this.server;
    if (!server) return;
    await new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); });
  }

  private push(): void {
    const view = this.o.model.view();
    for (const res of this.streams) {
      const session = (res as ServerResponse & { session?: ConsoleSession }).session!;
      res.write(`event: view\ndata: ${JSON.stringify(this.withPermissions(view, session))}\n\n`);
    }
  }

  private withPermissions(view: ReturnType<ConsoleModel['view']>, s: ConsoleSession): object {
    return { ...view, destinations: view.destinations.map((d) => ({ ...d, canAdmin: this.o.auth.canAdmin(s, d.name) })) };
  }

  private send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...SECURITY_HEADERS, ...headers });
    res.end(JSON.stringify(body));
  }

  private async body(req: IncomingMessage): Promise<Record<string, unknown>> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > MAX_BODY) throw new HttpError(413, 'TOO_LARGE', `request body over ${MAX_BODY} bytes`);
      chunks.push(c as Buffer);
    }
    try {
      const v = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as unknown;
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
      return v as Record<string, unknown>;
    } catch (e) {
      throw new HttpError(400, 'BAD_JSON', `the request body is not a JSON object: ${(e as Error).message}`);
    }
  }

  private host(req: IncomingMessage): string { return req.headers.host ?? `${this.o.host}:${this.port}`; }

  private master(group: unknown): string {
    if (typeof group !== 'string' || !group) throw new HttpError(400, 'BAD_REQUEST', 'give the group');
    const address = this.o.model.masterOf(group);
    if (!address) throw new HttpError(409, 'NO_MASTER', `group ${group} has no master now (an election may be running): try again in a moment`);
    return address;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://console');
    const path = url.pathname;
    const route = path.startsWith('/api/') ? path : path.startsWith('/vendor/') ? 'vendor' : path;
    try {
      if (req.method === 'GET' || req.method === 'HEAD') {
        switch (path) {
          case '/metrics': {
            const text = await this.o.registry.metrics();
            res.writeHead(200, { 'content-type': this.o.registry.contentType });
            res.end(text);
            return;
          }
          case '/healthz': return this.send(res, 200, { status: 'ok' });
          case '/readyz': { const ok = this.o.ready(); return this.send(res, ok ? 200 : 503, { status: ok ? 'ready' : 'not ready' }); }
          case '/api/session': {
            const s = this.o.auth.session(req);
            return this.send(res, 200, { authRequired: this.o.auth.required, user: s && this.o.auth.required ? s.principal : null, csrf: s?.csrf ?? '' });
          }
          case '/api/view': {
            const s = this.o.auth.reader(req);
            return this.send(res, 200, this.withPermissions(this.o.model.view(), s));
          }
          case '/api/events': return this.events(req, res);
          case '/api/history': {
            this.o.auth.reader(req);
            const since = Number(url.searchParams.get('since') ?? '0') || -Infinity;
            return this.send(res, 200, this.o.model.history.snapshot(url.searchParams.get('prefix') ?? '', since));
          }
          case '/api/browse': return await this.browse(req, res, url);
          default: return await this.staticFile(path, res);
        }
      }
      if (req.method === 'POST') {
        this.o.metrics.requests.inc({ route });
        switch (path) {
          case '/api/login': return await this.login(req, res);
          case '/api/logout': {
            this.o.auth.writer(req, this.host(req));
            this.o.auth.logout(req);
            return this.send(res, 200, { ok: true }, { 'set-cookie': this.o.auth.cookie(null) });
          }
          case '/api/purge': case '/api/send': case '/api/move': case '/api/delete': return await this.action(path.slice(5) as 'purge' | 'send' | 'move' | 'delete', req, res);
          default: throw new HttpError(404, 'NOT_FOUND', `no ${path}`);
        }
      }
      throw new HttpError(405, 'METHOD', `${req.method} is not allowed here`);
    } catch (e) {
      const err = e as Error;
      const status = e instanceof AuthError || e instanceof HttpError ? e.status : e instanceof StoreCallError ? e.status : 500;
      const code = e instanceof AuthError || e instanceof HttpError || e instanceof StoreCallError ? e.code : 'INTERNAL';
      if (status >= 500) this.o.log.warn({ path, err: err.message }, 'console request failed');
      if (!res.headersSent) this.send(res, status, { error: err.message, code });
      else res.end();
    }
  }

  private async staticFile(path: string, res: ServerResponse): Promise<void> {
    let file: string;
    if (path.startsWith('/vendor/')) {
      const v = this.vendor[path];
      if (!v) throw new HttpError(404, 'NOT_FOUND', `no ${path}`);
      file = v;
    } else {
      const rel = path === '/' ? 'index.html' : normalizePath(decodeURIComponent(path)).replace(/^[/\\]+/, '');
      file = join(PUBLIC_DIR, rel);
      if (!file.startsWith(PUBLIC_DIR + sep)) throw new HttpError(404, 'NOT_FOUND', `no ${path}`);
    }
    let data: Buffer;
    try { data = await readFile(file); } catch { throw new HttpError(404, 'NOT_FOUND', `no ${path}`); }
    // preact/hooks imports the bare name "preact": point it at the file beside it (an import
    // map would be an inline script, which the page's Content-Security-Policy forbids).
    if (path === '/vendor/hooks.mjs') data = Buffer.from(data.toString('utf8').replace(/from\s*["']preact["']/g, 'from"./preact.mjs"'));
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache', ...SECURITY_HEADERS });
    res.end(data);
  }

  private events(req: IncomingMessage, res: ServerResponse): void {
    const s = this.o.auth.reader(req);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', ...SECURITY_HEADERS });
    (res as ServerResponse & { session?: ConsoleSession }).session = s;
    res.write(`retry: 1000\nevent: view\ndata: ${JSON.stringify(this.withPermissions(this.o.model.view(), s))}\n\n`);
    this.streams.add(res);
    this.o.metrics.streams.set(this.streams.size);
    // A comment every 15 s keeps proxies from closing an idle stream.
    const keep = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    req.on('close', () => {
      clearInterval(keep);
      this.streams.delete(res);
      this.o.metrics.streams.set(this.streams.size);
    });
  }

  private async login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // No session yet: same-origin and JSON are the CSRF defence of the login itself.
    checkSameOrigin(req, this.host(req));
    const b = await this.body(req);
    if (typeof b.login !== 'string' || typeof b.password !== 'string') throw new HttpError(400, 'BAD_REQUEST', 'give login and password');
    const remote = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const s = await this.o.auth.login(b.login, b.password, remote);
    this.o.log.info({ login: s.principal.login, remote }, 'console login');
    this.send(res, 200, { user: s.principal, csrf: s.csrf }, { 'set-cookie': this.o.auth.cookie(s) });
  }

  private async browse(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    this.o.auth.reader(req);
    const destination = url.searchParams.get('destination') ?? '';
    const address = this.master(url.searchParams.get('group'));
    const limit = Math.min(Math.max(Number(url.searchParams.get('limit') ?? '100') || 100, 1), 1000);
    const items = await this.o.model.admin.browse(address, { destination, limit, selector: url.searchParams.get('selector') ?? '' });
    this.send(res, 200, {
      destination,
      messages: items.map((m) => ({
        id: m.id, destination: m.destination, persistent: m.persistent, priority: m.priority, timestamp: m.timestamp, expires: m.expires,
        deliveryCount: m.deliveryCount, headers: { ...m.headers }, body: previewOf(Buffer.from(m.body)),
      })),
    });
  }

  private async action(kind: 'purge' | 'send' | 'move' | 'delete', req: IncomingMessage, res: ServerResponse): Promise<void> {
    const s = this.o.auth.writer(req, this.host(req));
    const b = await this.body(req);
    const str = (k: string, required = true): string => {
      const v = b[k];
      if (v === undefined && !required) return '';
      if (typeof v !== 'string' || (required && !v)) throw new HttpError(400, 'BAD_REQUEST', `give ${k} (a string)`);
      return v;
    };
    const address = this.master(b.group);
    const who = { login: s.principal.login, groups: [...s.principal.groups] };
    const done = (result: object, destination: string) => {
      this.o.metrics.actions.inc({ action: kind, result: 'ok' });
      this.o.log.info({ action: kind, destination, group: b.group, login: who.login, ...result }, 'console admin action');
      this.send(res, 200, result);
    };
    const guard = (destination: string) => {
      if (!this.o.auth.canAdmin(s, destination)) this.o.metrics.actions.inc({ action: kind, result: 'forbidden' });
      this.o.auth.requireAdmin(s, destination);
    };
    if (kind === 'purge') {
      const destination = str('destination');
      guard(destination);
      const r = await this.o.model.admin.purge(address, destination);
      return done({ removed: r.removed }, destination);
    }
    if (kind === 'delete') {
      const destination = str('destination');
      guard(destination);
      const r = await this.o.model.admin.delete(address, destination);
      return done({ removed: Number(r.removed) }, destination);
    }
    if (kind === 'send') {
      const destination = str('destination');
      guard(destination);
      const body = Buffer.from(str('body', false), 'utf8');
      if (body.length > MAX_TEST_BODY) throw new HttpError(413, 'TOO_LARGE', `a test message body may be at most ${MAX_TEST_BODY} bytes`);
      const headers: Record<string, string> = {};
      if (b.headers !== undefined) {
        if (typeof b.headers !== 'object' || b.headers === null || Array.isArray(b.headers)) throw new HttpError(400, 'BAD_REQUEST', 'headers must be an object of strings');
        for (const [k, v] of Object.entries(b.headers)) {
          if (typeof v !== 'string') throw new HttpError(400, 'BAD_REQUEST', `header ${k} must be a string`);
          headers[k] = v;
        }
      }
      const r = await this.o.model.admin.send(address, { destination, headers, body, persistent: b.persistent !== false, ...who });
      return done({ id: r.id }, destination);
    }
    const from = str('from');
    const to = str('to', false);
    guard(from);
    if (to) guard(to);
    const limit = typeof b.limit === 'number' && b.limit > 0 ? Math.floor(b.limit) : 0;
    const r = await this.o.model.admin.move(address, { from, to, limit, ...who });
    return done({ moved: r.moved, skipped: r.skipped }, from);
  }
}
