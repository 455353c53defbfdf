// The store shell: wires the pure broker core to gRPC (Broker.Session, Admin), RocksDB
// (group commit, page reads) and a clock (expiry tick). After every event it takes the
// core's Ready and acts on it: entries to the journal, events to sessions, pages to read.
import type { AddressInfo } from 'node:net';
import { BrokerCore, parseDestination, type JournalEntry, type PageRequest, type Ready } from '@hawser/broker';
import { compileSelector } from '@hawser/selector';
import {
  adminService, brokerService, grpc, SERVER_OPTIONS,
  type BrowseItem, type BrowseRequest, type DestinationsReply, type DestinationsRequest, type PurgeReply, type PurgeRequest,
  type SessionEvents, type SessionRequests, type StatusReply,
} from '@hawser/proto';
import type { Logger, prom } from '@hawser/observability';
import { fsyncFor, type Config } from './config';
import { RocksJournal } from './journal';
import { StoreMetrics } from './metrics';

type SessionCall = grpc.ServerDuplexStream<SessionRequests, SessionEvents>;

export interface StoreDeps {
  config: Config;
  log: Logger;
  registry: prom.Registry;
}

export class Store {
  private core: BrokerCore | null = null;
  private journal!: RocksJournal;
  private server: grpc.Server | null = null;
  private readonly calls = new Map<string, SessionCall>();
  private nextSession = 1;
  private readonly pendingEntries: JournalEntry[] = [];
  private committing = false;
  private readonly pendingLoads: PageRequest[] = [];
  private loading = false;
  private tick: NodeJS.Timeout | null = null;
  private stopping = false;
  private failed: Error | null = null;
  readonly metrics: StoreMetrics;
  grpcPort = 0;

  constructor(private readonly deps: StoreDeps) {
    this.metrics = new StoreMetrics(deps.registry, () => this.core);
  }

  get ready(): boolean { return this.core !== null && this.server !== null && !this.stopping && !this.failed; }

  /** Opens RocksDB, rebuilds the state from its indexes, and serves gRPC. */
  async start(): Promise<void> {
    const c = this.deps.config;
    this.journal = await RocksJournal.open(c.node.dataDir, { dedupWindow: c.broker.dedupWindow, retention: c.journal.retention });
    const recovered = await this.journal.recover();
    this.core = new BrokerCore({
      group: c.group, node: c.node.id, epoch: this.journal.epoch,
      defaultPrefetch: c.broker.defaultPrefetch, maximumRedeliveries: c.broker.maximumRedeliveries,
      deadLetterQueue: c.broker.deadLetterQueue, dedupWindow: c.broker.dedupWindow, pageSize: c.broker.pageSize,
      forcePersistent: c.broker.forcePersistent, compileSelector,
    }, recovered);
    this.deps.log.info({ position: recovered.position, queues: recovered.queues.length, durables: recovered.durables.length, dedup: recovered.dedup.length }, 'journal recovered');

    const server = new grpc.Server(SERVER_OPTIONS);
    server.addService(brokerService().service, { Session: (call: SessionCall) => this.session(call) });
    server.addService(adminService().service, {
      Destinations: (call: grpc.ServerUnaryCall<DestinationsRequest, DestinationsReply>, cb: grpc.sendUnaryData<DestinationsReply>) =>
        cb(null, { destinations: this.core!.destinations(call.request.prefix ?? '') }),
      Purge: (call: grpc.ServerUnaryCall<PurgeRequest, PurgeReply>, cb: grpc.sendUnaryData<PurgeReply>) => {
        const removed = this.core!.purge(call.request.destination, Date.now());
        this.drive();
        cb(null, { removed });
      },
      Browse: (call: grpc.ServerWritableStream<BrowseRequest, BrowseItem>) => { void this.browse(call); },
      Status: (_call: unknown, cb: grpc.sendUnaryData<StatusReply>) => cb(null, this.status()),
    });
    this.grpcPort = await new Promise<number>((resolve, reject) => {
      server.bindAsync(`${c.grpc.host}:${c.grpc.port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
    });
    this.server = server;
    this.tick = setInterval(() => { this.core?.tick(Date.now()); this.drive(); }, c.tickMs);
    this.tick.unref();
  }

  status(): StatusReply {
    const c = this.deps.config;
    return {
      node: c.node.id, group: c.group, role: 'standalone', epoch: this.core?.epoch ?? 0,
      commitPosition: this.core?.committed ?? 0, lastPosition: this.core?.position ?? 0,
      pid: process.pid, address: `${c.grpc.host}:${this.grpcPort}`,
    };
  }

  /** Stops serving: sessions end (their deliveries come back on the next start), the journal drains and closes. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.tick) clearInterval(this.tick);
    for (const call of this.calls.values()) call.end();
    this.calls.clear();
    if (this.server) {
      const s = this.server;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { s.forceShutdown(); resolve(); }, 2000);
        s.tryShutdown(() => { clearTimeout(t); resolve(); });
      });
    }
    for (let i = 0; i < 500 && (this.committing || this.pendingEntries.length || this.loading); i++) await new Promise((r) => setTimeout(r, 10));
    await this.journal?.close();
  }

  // ---- sessions --------------------------------------------------------------------------

  private session(call: SessionCall): void {
    if (this.stopping || this.failed) {
      call.write({ items: [{ kind: 'error', error: { requestId: 0, code: 'UNAVAILABLE', message: 'the store is stopping: reconnect to another store of the group', fatal: true } }] });
      call.end();
      return;
    }
    const id = `${this.deps.config.node.id}-${this.nextSession++}`;
    this.calls.set(id, call);
    this.metrics.sessions.inc();
    let gone = false;
    const end = () => {
      if (gone) return;
      gone = true;
      this.metrics.sessions.dec();
      if (this.calls.get(id) === call) this.calls.delete(id);
      this.core?.sessionEnded(id, Date.now());
      this.drive();
    };
    call.on('data', (batch: SessionRequests) => {
      if (gone || !this.core) return;
      const items = batch.items ?? [];
      for (const r of items) this.metrics.requests.inc({ kind: r.kind ?? 'unknown' });
      this.core.handle(id, items, Date.now());
      this.drive();
    });
    call.on('end', () => { end(); call.end(); });
    call.on('error', end);
    call.on('cancelled', end);
    call.on('close', end);
  }

  /** Acts on the core's Ready: persist, send, read pages. */
  private drive(): void {
    const core = this.core;
    if (!core) return;
    const r: Ready = core.takeReady();
    this.metrics.record(r);
    if (r.entries.length) { this.pendingEntries.push(...r.entries); this.commit(); }
    for (const o of r.outbound) {
      const call = this.calls.get(o.sessionId);
      if (!call) continue;
      if (o.events.length) call.write({ items: o.events as SessionEvents['items'] });
      if (o.end) { this.calls.delete(o.sessionId); call.end(); }
    }
    if (r.loads.length) { this.pendingLoads.push(...r.loads); this.load(); }
  }

  // ---- group commit ----------------------------------------------------------------------

  /** While one batch is being written, further entries wait; then they all go in ONE batch. */
  private commit(): void {
    if (this.committing || this.failed || !this.pendingEntries.length) return;
    this.committing = true;
    const batch = this.pendingEntries.splice(0, this.deps.config.journal.maxBatch);
    const started = process.hrtime.bigint();
    this.journal.write(batch, fsyncFor(this.deps.config.sync)).then(
      (res) => {
        this.metrics.commitSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
        this.metrics.batchEntries.observe(res.entries);
        this.metrics.batchBytes.observe(res.bytes);
        this.committing = false;
        // Standalone: the quorum is this node, so written = durable for every sync mode.
        this.core?.durable(res.position, Date.now());
        this.drive();
        this.commit();
        this.load();
      },
      (err: Error) => this.fail(err),
    );
  }

  /** A journal write failed: nothing after it can be receipted. End every session and stop serving. */
  private fail(err: Error): void {
    this.failed = err;
    this.committing = false;
    this.deps.log.error({ err }, 'journal write failed: ending every session; restart the store');
    for (const call of this.calls.values()) {
      call.write({ items: [{ kind: 'error', error: { requestId: 0, code: 'INTERNAL', message: `journal write failed: ${err.message}; the store is stopping, reconnect`, fatal: true } }] });
      call.end();
    }
    this.calls.clear();
  }

  // ---- paging ----------------------------------------------------------------------------

  private load(): void {
    if (this.loading || this.failed) return;
    const i = this.pendingLoads.findIndex((l) => l.atPosition <= this.journal.written);
    if (i < 0) return;
    const req = this.pendingLoads.splice(i, 1)[0]!;
    this.loading = true;
    this.journal.readPage(req.queue, req.after, req.limit).then(
      ({ page, full }) => {
        this.loading = false;
        this.metrics.pageReads.inc();
        this.core?.pageLoaded(req.queue, req.gen, page, full, Date.now());
        this.drive();
        this.load();
      },
      (err: Error) => {
        this.loading = false;
        this.deps.log.error({ err, queue: req.queue }, 'page read failed; retrying');
        this.pendingLoads.push(req);
        setTimeout(() => this.load(), 1000).unref();
      },
    );
  }

  // ---- admin -----------------------------------------------------------------------------

  private async browse(call: grpc.ServerWritableStream<BrowseRequest, BrowseItem>): Promise<void> {
    try {
      const { destination, limit, selector } = call.request;
      if (!parseDestination(destination)) throw new Error(`invalid destination '${destination}': use /queue/<name>`);
      const sel = selector ? compileSelector(selector) : null;
      const filter = (m: { headers: Record<string, string>; id: string; priority: number; timestamp: number; expires: number; persistent: boolean }) => !sel || sel.matches(m);
      const max = limit > 0 ? limit : 1000;
      const win = this.core?.windowOf(destination);
      const items = await this.journal.browse(win?.storeId ?? destination, max, filter);
      for (const m of win?.messages ?? []) if (!m.persistent && items.length < max && filter(m)) items.push({ message: m, failed: 0 });
      for (const { message: m, failed } of items) {
        call.write({ id: m.id, destination: m.destination, headers: m.headers, body: m.body, persistent: m.persistent, priority: m.priority, expires: m.expires, timestamp: m.timestamp, deliveryCount: failed });
      }
      call.end();
    } catch (e) {
      call.destroy(Object.assign(new Error((e as Error).message), { code: grpc.status.INVALID_ARGUMENT }));
    }
  }

  /** The bound address, for tests. */
  address(): AddressInfo { return { address: this.deps.config.grpc.host, family: 'IPv4', port: this.grpcPort }; }
}
