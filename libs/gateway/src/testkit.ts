// Test support for the gateway specs: a fake Broker gRPC server (a tiny echo broker), raw
// STOMP clients over TCP and WebSocket that speak bytes (independent of @hawser/stomp), and
// checkFor-style polling. Not used by the service itself.
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import { WebSocket, type ClientOptions as WsClientOptions } from 'ws';
import { grpc, brokerService, topologyService, SERVER_OPTIONS } from '@hawser/proto';
import { freePort } from '@hawser/zookeeper-launcher';
import type { LocalBroker, LocalSession, LocalSessionSink } from './session/local-channel';
import type {
  SessionRequests, SessionEvents, SessionRequest, SessionEvent, MuxRequests, MuxEvents, Message, Subscribe, TopologySnapshot, WatchRequest, GroupInfo,
} from '@hawser/proto';

/** Polls `fn` until it returns a truthy value or the deadline passes (nats-server's checkFor). */
export async function checkFor<T>(what: string, fn: () => T | undefined | false | null | Promise<T | undefined | false | null>, timeoutMs = 3_000, everyMs = 10): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

// ---- fake broker ---------------------------------------------------------------------------

type Call = grpc.ServerDuplexStream<SessionRequests, SessionEvents>;
type MuxCall = grpc.ServerDuplexStream<MuxRequests, MuxEvents>;

interface FakeSession {
  id: string;
  /** How the gateway reached this session: a Broker.Session stream, or in-process (home 2). */
  via: 'grpc' | 'local';
  /** Writes events to the gateway (a gRPC stream, or the in-process sink). */
  write(items: SessionEvent[]): void;
  /** Ends the session with a failure, as a dying store would. */
  kill(): void;
  subs: Map<string, Subscribe>;
  nextTag: number;
  ended: boolean;
  /** The destination and message id of each delivery tag given out (for `acked`). */
  delivered?: Map<number, { destination: string; id: string }>;
}

/**
 * A Broker.Session server that answers opens, receipts every request with a requestId,
 * and delivers each SEND to every subscription on the same destination (all sessions).
 * Destination /queue/reject is refused with an error event (code INVALID_DESTINATION).
 */

/**
 * Binds a fake server on a port no server of this process had before (freePort: below the
 * ephemeral range, held until the process exits). On port 0 the kernel may hand out the port of
 * a fake server an earlier test closed, and grpc-js's process-wide subchannel pool still holds
 * that address's subchannel in reconnect backoff: the gateway's first call then failed at once
 * with "No connection established" (seen once in CI, in limits.spec).
 */
async function bindFresh(server: grpc.Server): Promise<number> {
  const port = await freePort();
  return new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
}

export class FakeBroker {
  port = 0;
  /** Every batch received, in order, per session id. */
  readonly batches: Array<{ session: string; items: SessionRequest[] }> = [];
  readonly sessions: FakeSession[] = [];
  /** When set, opens are not answered (to test the open timeout). */
  silent = false;
  /** When set, SENDs are neither receipted nor delivered (a master that dies before committing them). */
  holdSends = false;
  /** When set, opens are refused with a fatal NOT_MASTER error (a slave). */
  notMaster = false;
  /** Message ids stored (dedup by id, as the real store does). */
  readonly stored = new Set<string>();
  /** When set, a SUBSCRIBE it answers with a code and message is refused (fatal, as the core's CLIENT_ID_TAKEN). */
  refuseSubscribe: ((sub: Subscribe) => { code: string; message: string } | undefined) | undefined;
  private server = new grpc.Server(SERVER_OPTIONS);
  private seq = 0;

  async start(): Promise<this> {
    this.server.addService(brokerService().service, {
      Session: (call: Call) => this.onSession(call),
      Sessions: (call: MuxCall) => this.onMux(call),
    });
    this.port = await bindFresh(this.server);
    return this;
  }

  get address(): string { return `127.0.0.1:${this.port}`; }

  /** Every request of a kind received so far (all sessions). */
  requests<K extends SessionRequest['kind']>(kind: K): Array<Extract<SessionRequest, { kind: K }>> {
    return this.batches.flatMap((b) => b.items).filter((i): i is Extract<SessionRequest, { kind: K }> => i.kind === kind);
  }

  /**
   * The message ids acked of deliveries on `destination`, in order (any session). A count of
   * every ACK would also take in those of a session's own state (an MQTT connection acks its
   * records and takeover announcements whenever they come back), which may land at any time.
   */
  acked(destination: string): string[] {
    const out: string[] = [];
    for (const b of this.batches) {
      const s = this.sessions.find((x) => x.id === b.session);
      for (const it of b.items) {
        if (it.kind !== 'ack') continue;
        const d = s?.delivered?.get(it.ack.deliveryTag);
        if (d?.destination === destination) out.push(d.id);
      }
    }
    return out;
  }

  /**
   * The same fake as the in-process broker of a store node (home 2): the gateway started
   * with `{ local: broker.local }` and store.address = broker.address talks to it without gRPC.
   */
  readonly local: LocalBroker = ((broker: FakeBroker) => ({
    get address() { return broker.address; },
    serving: true,
    openSession: (sink: LocalSessionSink): LocalSession => broker.openLocal(sink),
  }))(this);

  private openLocal(sink: LocalSessionSink): LocalSession {
    {
      const s: FakeSession = {
        id: `fake-${++this.seq}`, via: 'local', subs: new Map(), nextTag: 1, ended: false,
        write: (items) => sink.events(items),
        kill: () => sink.ended(),
      };
      this.sessions.push(s);
      return {
        requests: (items) => { if (!s.ended) this.onBatch(s, items); },
        end: () => { s.ended = true; },
      };
    }
  }

  private onSession(call: Call): void {
    const s: FakeSession = {
      id: `fake-${++this.seq}`, via: 'grpc', subs: new Map(), nextTag: 1, ended: false,
      write: (items) => call.write({ items } as SessionEvents),
      // grpc-js: an 'error' emitted on a server stream becomes the call's status.
      kill: () => call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'store stopped' }),
    };
    this.sessions.push(s);
    call.on('data', (batch: SessionRequests) => this.onBatch(s, batch.items));
    call.on('end', () => { s.ended = true; call.end(); });
    call.on('error', () => { s.ended = true; });
    call.on('cancelled', () => { s.ended = true; });
  }

  /** Broker.Sessions: a gateway's sessions on one stream (the real gateway's gRPC channel). */
  private onMux(call: MuxCall): void {
    const mine = new Map<number, FakeSession>();
    let dead = false;
    call.on('data', (batch: MuxRequests) => {
      // Consecutive requests of one session are one batch, as the store hands them to its core.
      let run: { s: FakeSession; items: SessionRequest[] } | undefined;
      const deliver = () => { if (run) this.onBatch(run.s, run.items); run = undefined; };
      for (const it of batch.items) {
        const id = Number(it.session);
        let s = mine.get(id);
        if (run && run.s !== s) deliver();
        if (it.end) {
          if (s) s.ended = true;
          mine.delete(id);
          continue;
        }
        if (!it.request) continue;
        if (!s) {
          s = {
            id: `fake-${++this.seq}`, via: 'grpc', subs: new Map(), nextTag: 1, ended: false,
            write: (items) => { if (!dead) call.write({ items: items.map((event) => ({ session: id, event })) } as MuxEvents); },
            // grpc-js: an 'error' emitted on a server stream becomes the call's status (every session on it dies).
            kill: () => { if (!dead) call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'store stopped' }); },
          };
          mine.set(id, s);
          this.sessions.push(s);
        }
        if (!run) run = { s, items: [] };
        run.items.push(it.request);
      }
      deliver();
    });
    const gone = () => { dead = true; for (const s of mine.values()) s.ended = true; mine.clear(); };
    call.on('end', () => { gone(); call.end(); });
    call.on('error', gone);
    call.on('cancelled', gone);
  }

  private onBatch(s: FakeSession, items: SessionRequest[]): void {
    const emit = (events: SessionEvent[]) => { if (!s.ended) s.write(events); };
    {
      this.batches.push({ session: s.id, items });
      const out: SessionEvent[] = [];
      for (const req of items) {
        const receipt = () => { if (req.requestId) out.push({ kind: 'receipt', receipt: { requestId: req.requestId } }); };
        switch (req.kind) {
          case 'open':
            if (this.notMaster) {
              out.push({ kind: 'error', error: { requestId: 0, code: 'NOT_MASTER', message: 'this store is a slave of group g1', fatal: true } });
              break;
            }
            if (!this.silent) out.push({ kind: 'opened', opened: { sessionId: s.id, group: 'g1', node: 'fake', epoch: 1 } });
            break;
          case 'send': {
            const m = req.send.message;
            if (m.destination === '/queue/reject') {
              out.push({ kind: 'error', error: { requestId: req.requestId, code: 'INVALID_DESTINATION', message: `destination ${m.destination} is not allowed`, fatal: true } });
              break;
            }
            if (this.holdSends) break;
            receipt();
            if (this.stored.has(m.id)) break; // a duplicate (failover resend): stored once
            this.stored.add(m.id);
            this.deliver({ ...m, timestamp: Date.now() });
            break;
          }
          case 'subscribe': {
            const refused = this.refuseSubscribe?.(req.subscribe);
            if (refused) {
              out.push({ kind: 'error', error: { requestId: req.requestId, ...refused, fatal: true } });
              break;
            }
            s.subs.set(req.subscribe.subscriptionId, req.subscribe);
            receipt();
            break;
          }
          case 'unsubscribe':
            s.subs.delete(req.unsubscribe.subscriptionId);
            receipt();
            break;
          case 'close':
            receipt();
            break;
          default:
            receipt();
        }
      }
      if (out.length) emit(out);
    }
  }

  private deliver(m: Message, redelivered = false): void {
    for (const s of this.sessions) {
      if (s.ended) continue;
      for (const sub of s.subs.values()) {
        if (sub.destination !== m.destination) continue;
        const tag = s.nextTag++;
        (s.delivered ??= new Map()).set(tag, { destination: m.destination, id: m.id });
        s.write([{ kind: 'delivery', delivery: { subscriptionId: sub.subscriptionId, deliveryTag: tag, message: m, redelivered, deliveryCount: redelivered ? 2 : 1 } }] as unknown as SessionEvent[]);
      }
    }
  }

  /** Delivers a message to every matching subscription now (as if another producer sent it). */
  publish(m: Partial<Message> & { id: string; destination: string }, redelivered = false): void {
    this.deliver({ headers: {}, body: Buffer.from(m.id), persistent: false, priority: 4, expires: 0, timestamp: Date.now(), ...m }, redelivered);
  }

  /** Ends every stream with an error status, as a dying store would. */
  killSessions(): void {
    for (const s of this.sessions) {
      if (s.ended) continue;
      s.ended = true;
      s.kill();
    }
  }

  stop(): Promise<void> {
    this.server.forceShutdown();
    return Promise.resolve();
  }
}

// ---- fake coordinator ------------------------------------------------------------------------

type WatchCall = grpc.ServerWritableStream<WatchRequest, TopologySnapshot>;

/** A Topology service whose snapshots the test decides: setMaster() pushes one to every watcher. */
export class FakeCoordinator {
  port = 0;
  readonly watches: WatchCall[] = [];
  private server = new grpc.Server(SERVER_OPTIONS);
  private version = 0;
  private group: GroupInfo = { name: 'g1', state: 'electing', epoch: 0, masterId: '', masterAddress: '', replicas: 3, members: [], message: '' };

  async start(): Promise<this> {
    this.server.addService(topologyService().service, {
      Watch: (call: WatchCall) => {
        this.watches.push(call);
        call.on('cancelled', () => this.drop(call));
        call.on('error', () => this.drop(call));
        call.write(this.snapshot());
      },
      Get: (_call: unknown, cb: grpc.sendUnaryData<TopologySnapshot>) => cb(null, this.snapshot()),
      ReportMasterLost: (_call: unknown, cb: grpc.sendUnaryData<{ accepted: boolean }>) => cb(null, { accepted: true }),
    });
    this.port = await bindFresh(this.server);
    return this;
  }

  get address(): string { return `127.0.0.1:${this.port}`; }

  /** Names the master of group g1 (state ok), or none (state no-quorum/electing with `message`). */
  setMaster(master: { id: string; address: string; epoch: number } | undefined, message = ''): void {
    this.group = master
      ? { ...this.group, state: 'ok', epoch: master.epoch, masterId: master.id, masterAddress: master.address, message: '' }
      : { ...this.group, state: message ? 'no-quorum' : 'electing', masterId: '', masterAddress: '', message };
    const snap = this.snapshot();
    for (const w of this.watches) w.write(snap);
  }

  private snapshot(): TopologySnapshot {
    return { version: ++this.version, groups: [this.group], coordinators: [], gateways: [] };
  }

  private drop(call: WatchCall): void {
    const i = this.watches.indexOf(call);
    if (i >= 0) this.watches.splice(i, 1);
  }

  stop(): Promise<void> {
    this.server.forceShutdown();
    return Promise.resolve();
  }
}

// ---- raw STOMP clients -----------------------------------------------------------------------

export interface RawFrame { command: string; headers: Record<string, string>; body: string }

/** A frame as bytes: COMMAND, headers, blank line, body, NUL. */
export function raw(command: string, headers: Record<string, string | number> = {}, body = ''): string {
  return `${command}\n${Object.entries(headers).map(([k, v]) => `${k}:${v}`).join('\n')}${Object.keys(headers).length ? '\n' : ''}\n${body}\0`;
}

function unescape(v: string): string {
  return v.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c === 'c' ? ':' : c));
}

/** A STOMP client that writes raw bytes and parses what comes back (minimal, for tests). */
export class RawClient {
  readonly frames: RawFrame[] = [];
  heartbeats = 0;
  closed = false;
  protocol = '';
  private buf = Buffer.alloc(0);
  private read = 0;
  private writeFn: (b: Buffer) => void = () => {};
  private closeFn: () => void = () => {};
  private pauseFn: (paused: boolean) => void = () => {};

  static tcp(port: number): Promise<RawClient> {
    const c = new RawClient();
    return new Promise((resolve, reject) => {
      const socket: Socket = netConnect(port, '127.0.0.1', () => resolve(c));
      socket.on('error', (e) => { if (!c.closed) reject(e); });
      socket.on('data', (d: Buffer) => c.onData(d));
      socket.on('close', () => { c.closed = true; });
      c.writeFn = (b) => { if (!socket.destroyed) socket.write(b); };
      c.closeFn = () => socket.destroy();
      c.pauseFn = (p) => (p ? socket.pause() : socket.resume());
    });
  }

  /** STOMP over TLS; resolves once the handshake is done (TLS 1.3: a refused client certificate shows as a close after it). */
  static tls(port: number, options: TlsConnectionOptions): Promise<RawClient> {
    const c = new RawClient();
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, ...options }, () => resolve(c));
      socket.on('error', (e) => { if (!c.closed) reject(e); });
      socket.on('data', (d: Buffer) => c.onData(d));
      socket.on('close', () => { c.closed = true; });
      c.writeFn = (b) => { if (!socket.destroyed) socket.write(b); };
      c.closeFn = () => socket.destroy();
      c.pauseFn = (p) => (p ? socket.pause() : socket.resume());
    });
  }

  /** STOMP over WebSocket; `options.secure` dials wss:// (with options.ca etc.), `options.origin` sends an Origin header. */
  static ws(port: number, protocols: string[] = ['v12.stomp', 'v11.stomp', 'v10.stomp'], options: WsClientOptions & { secure?: boolean } = {}): Promise<RawClient> {
    const c = new RawClient();
    const { secure, ...wsOptions } = options;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${secure ? 'wss' : 'ws'}://127.0.0.1:${port}/`, protocols, wsOptions);
      ws.on('open', () => { c.protocol = ws.protocol; resolve(c); });
      ws.on('error', (e) => { if (!c.closed) reject(e); });
      ws.on('message', (d: Buffer) => c.onData(Buffer.from(d)));
      ws.on('close', () => { c.closed = true; });
      c.writeFn = (b) => { if (ws.readyState === WebSocket.OPEN) ws.send(b); };
      c.closeFn = () => ws.terminate();
    });
  }

  write(data: string | Buffer): void { this.writeFn(typeof data === 'string' ? Buffer.from(data, 'utf8') : data); }
  close(): void { this.closeFn(); }
  /** Stop/start reading the socket (TCP only), to make the gateway's write buffer grow. */
  pause(): void { this.pauseFn(true); }
  resume(): void { this.pauseFn(false); }

  /** The next frame not returned before. */
  async next(timeoutMs = 3_000): Promise<RawFrame> {
    const f = await checkFor('a frame', () => this.frames[this.read], timeoutMs);
    this.read++;
    return f;
  }

  /** The next frame, which must be `command`. */
  async expect(command: string, timeoutMs = 3_000): Promise<RawFrame> {
    const f = await this.next(timeoutMs);
    if (f.command !== command) throw new Error(`expected ${command}, got ${f.command} ${JSON.stringify(f.headers)} ${f.body}`);
    return f;
  }

  waitClosed(timeoutMs = 3_000): Promise<boolean> { return checkFor('the connection to close', () => this.closed, timeoutMs); }

  /** CONNECT and wait for CONNECTED. */
  async connect(headers: Record<string, string | number> = { 'accept-version': '1.2', host: 'localhost', 'heart-beat': '0,0' }): Promise<RawFrame> {
    this.write(raw('CONNECT', headers));
    return this.expect('CONNECTED');
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      // Heart-beats: EOLs between frames.
      while (this.buf.length && (this.buf[0] === 0x0a || (this.buf[0] === 0x0d && this.buf[1] === 0x0a))) {
        this.heartbeats++;
        this.buf = this.buf.subarray(this.buf[0] === 0x0d ? 2 : 1);
      }
      const headEnd = this.buf.indexOf('\n\n');
      if (headEnd < 0) return;
      const lines = this.buf.subarray(0, headEnd).toString('utf8').split('\n');
      const command = lines.shift()!;
      const headers: Record<string, string> = {};
      const escaped = command !== 'CONNECTED';
      for (const line of lines) {
        const i = line.indexOf(':');
        const k = escaped ? unescape(line.slice(0, i)) : line.slice(0, i);
        if (!(k in headers)) headers[k] = escaped ? unescape(line.slice(i + 1)) : line.slice(i + 1);
      }
      const start = headEnd + 2;
      let end: number;
      if (headers['content-length'] !== undefined) {
        end = start + Number(headers['content-length']);
        if (this.buf.length < end + 1) return;
      } else {
        end = this.buf.indexOf(0, start);
        if (end < 0) return;
      }
      this.frames.push({ command, headers, body: this.buf.subarray(start, end).toString('utf8') });
      this.buf = this.buf.subarray(end + 1);
    }
  }
}
