// The console's live picture of the cluster and the loops that keep it current:
// - the topology: followed from the coordinators' Topology.Watch (every change arrives as a
//   snapshot; an election is seen as it happens), or, without coordinators, each configured
//   store's Admin.Status every poll;
// - destinations: each group master's Admin.Destinations every poll.intervalMs, rates from the
//   enqueued/dequeued totals;
// - /metrics of every service the topology names (stores, coordinators, gateways, bridges)
//   every poll.scrapeMs: health, gateway connections, bridge forwarding, commit latency;
// - history: ring buffers of what the charts draw.
// Listeners (the SSE streams) are told after every change.
import { request } from 'node:http';
import { TopologyWatch, type StatusReply, type TopologySnapshot } from '@hawser/proto';
import type { Logger } from '@hawser/observability';
import { AdminClients } from './grpc';
import { History, Rates } from './history';
import { parsePrometheus, sum, sumBy, type Sample } from './prom-text';
import {
  destinationKind, isDlq, normalize, topologyEvents,
  type ClusterView, type DestinationView, type EventView, type Health,
} from './view';

export interface ModelOptions {
  coordinators: string[];
  stores: Array<{ group: string; address: string }>;
  pollMs: number;
  scrapeMs: number;
  historySeconds: number;
  timeoutMs: number;
  deadLetterQueue?: string;
  log: Logger;
}

const MAX_EVENTS = 200;

/** GET http://host:port/metrics with a deadline. */
function fetchMetrics(host: string, port: number, timeoutMs: number): Promise<Sample[]> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: '/metrics', method: 'GET', timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}`));
        else resolve(parsePrometheus(Buffer.concat(chunks).toString('utf8')));
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

function hostOf(address: string): string {
  const i = address.lastIndexOf(':');
  return (i > 0 ? address.slice(0, i) : address).replace(/^\[|\]$/g, '');
}

export class ConsoleModel {
  readonly admin: AdminClients;
  readonly history: History;
  private readonly rates = new Rates();
  private topology: TopologySnapshot = normalize({});
  private watch: TopologyWatch | undefined;
  private connected = false;
  private error = '';
  private readonly events: EventView[] = [];
  private readonly lastMasters = new Map<string, string>();
  private readonly destinations = new Map<string, DestinationView[]>();
  private readonly destinationErrors: Record<string, string> = {};
  /** `kind/id` -> health and last samples. */
  private readonly scraped = new Map<string, { health: Health; samples: Sample[] }>();
  private readonly bridgeRates = new Map<string, number>();
  /** When each group's destinations were last read, and the destinations seen so far (rates of new ones). */
  private readonly lastPoll = new Map<string, number>();
  private readonly known = new Set<string>();
  private readonly listeners = new Set<() => void>();
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private polling = false;
  private scraping = false;
  /** Polls done (destinations); tests and /readyz. */
  polls = 0;

  constructor(private readonly o: ModelOptions) {
    this.admin = new AdminClients(o.timeoutMs);
    this.history = new History(Math.max(10, Math.ceil((o.historySeconds * 1000) / Math.min(o.pollMs, o.scrapeMs))));
  }

  get deadLetterQueue(): string { return this.o.deadLetterQueue ?? '/queue/ActiveMQ.DLQ'; }

  start(): void {
    if (this.o.coordinators.length > 0) {
      this.watch = new TopologyWatch({
        coordinators: this.o.coordinators, group: '', log: this.o.log,
        onSnapshot: (snap) => this.setTopology(normalize(snap), true, ''),
      }).start();
    }
    const every = (ms: number, fn: () => Promise<void>) => {
      const run = () => { if (!this.stopped) fn().catch((e: Error) => this.o.log.warn({ err: e.message }, 'console poll failed')).finally(() => { if (!this.stopped) this.timers.push(setTimeout(run, ms)); }); };
      run();
    };
    every(this.o.pollMs, () => this.poll());
    every(this.o.scrapeMs, () => this.scrape());
  }

  stop(): void {
    this.stopped = true;
    this.watch?.stop();
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    this.admin.close();
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void { for (const fn of this.listeners) { try { fn(); } catch { /* a gone stream */ } } }

  private setTopology(next: TopologySnapshot, connected: boolean, error: string): void {
    const now = Date.now();
    const evs = topologyEvents(this.topology.groups.length || this.topology.version ? this.topology : undefined, next, now, this.lastMasters);
    for (const e of evs) {
      this.events.push(e);
      this.o.log.info({ group: e.group, event: e.text }, 'topology event');
    }
    if (this.events.length > MAX_EVENTS) this.events.splice(0, this.events.length - MAX_EVENTS);
    this.topology = next;
    this.connected = connected;
    this.error = error;
    for (const g of next.groups) {
      for (const m of g.members) this.history.record(`lag/${g.name}/${m.id}`, now, m.lagEntries);
    }
    this.changed();
  }

  /** The master's (or standalone store's) Admin address of a group, '' while it has none. */
  masterOf(group: string): string {
    const g = this.topology.groups.find((x) => x.name === group);
    return g?.masterAddress ?? '';
  }

  /** Without coordinators: each store's Admin.Status, as a topology. */
  private async pollStores(): Promise<void> {
    const replies = await Promise.all(this.o.stores.map(async (s) => {
      try { return { s, st: await this.admin.status(s.address) }; } catch (e) { return { s, err: (e as Error).message }; }
    }));
    const groups = new Map<string, TopologySnapshot['groups'][number]>();
    const errors: string[] = [];
    for (const r of replies) {
      let g = groups.get(r.s.group);
      if (!g) {
        g = { name: r.s.group, state: 'no-quorum', epoch: 0, masterId: '', masterAddress: '', replicas: 0, members: [], message: '' };
        groups.set(r.s.group, g);
      }
      g.replicas++;
      if (!('st' in r) || !r.st) { errors.push(r.err ?? ''); g.message = r.err ?? ''; continue; }
      const st: StatusReply = r.st;
      const master = st.role === 'standalone' || st.role === 'master';
      if (master) { g.masterId = st.node; g.masterAddress = r.s.address; g.epoch = st.epoch; g.state = 'ok'; }
      g.members.push({ id: st.node, address: r.s.address, role: st.role, epoch: st.epoch, commitPosition: st.commitPosition, lastPosition: st.lastPosition, lagEntries: 0, lagSeconds: 0, pid: st.pid, weight: 0, httpPort: 0 });
    }
    const gateways = replies.flatMap((r) => ('st' in r && r.st?.stompPort ? [{ id: r.st.node, group: r.s.group, host: hostOf(r.s.address), stompPort: r.st.stompPort, wsPort: r.st.wsPort ?? 0, httpPort: 0, pid: r.st.pid, node: r.st.node }] : []));
    const next = normalize({ version: this.topology.version + 1, groups: [...groups.values()], gateways });
    const same = JSON.stringify({ ...next, version: 0 }) === JSON.stringify({ ...this.topology, version: 0 });
    if (!same || this.connected !== (errors.length === 0)) this.setTopology(same ? this.topology : next, errors.length === 0, errors.join('; '));
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      if (this.o.coordinators.length === 0) await this.pollStores();
      else if (this.watch) {
        const connected = this.watch.connected;
        const error = connected ? '' : this.watch.unreachable();
        if (connected !== this.connected || error !== this.error) { this.connected = connected; this.error = error; this.changed(); }
      }
      const now = Date.now();
      await Promise.all(this.topology.groups.map(async (g) => {
        if (!g.masterAddress) { this.destinationErrors[g.name] = `group ${g.name} has no master now`; return; }
        try {
          const r = await this.admin.destinations(g.masterAddress);
          delete this.destinationErrors[g.name];
          let depth = 0; let enq = 0; let deq = 0;
          const list: DestinationView[] = r.destinations.map((d) => {
            const key = `dest/${g.name}/${d.name}`;
            const prevPoll = this.lastPoll.get(g.name);
            // A destination new since the previous poll: everything it counted came in that interval.
            if (prevPoll !== undefined && !this.known.has(key)) { this.rates.rate(`${key}/enq`, prevPoll, 0); this.rates.rate(`${key}/deq`, prevPoll, 0); }
            this.known.add(key);
            const enqueueRate = this.rates.rate(`${key}/enq`, now, d.enqueued);
            const dequeueRate = this.rates.rate(`${key}/deq`, now, d.dequeued);
            this.history.record(`${key}/depth`, now, d.depth);
            if (enqueueRate !== undefined) this.history.record(`${key}/enqueueRate`, now, enqueueRate);
            if (dequeueRate !== undefined) this.history.record(`${key}/dequeueRate`, now, dequeueRate);
            const kind = destinationKind(d.name);
            if (kind !== 'topic') depth += d.depth;
            if (kind === 'queue' || kind === 'topic') { enq += enqueueRate ?? 0; deq += dequeueRate ?? 0; }
            return { ...d, group: g.name, kind, dlq: isDlq(d.name, this.deadLetterQueue), enqueueRate, dequeueRate };
          });
          this.destinations.set(g.name, list);
          this.lastPoll.set(g.name, now);
          const listed = new Set(list.map((d) => `dest/${g.name}/${d.name}`));
          for (const k of this.known) if (k.startsWith(`dest/${g.name}/`) && !listed.has(k)) { this.known.delete(k); this.rates.forget(`${k}/`); }
          this.history.record(`group/${g.name}/depth`, now, depth);
          this.history.record(`group/${g.name}/enqueueRate`, now, enq);
          this.history.record(`group/${g.name}/dequeueRate`, now, deq);
        } catch (e) {
          this.destinationErrors[g.name] = (e as Error).message;
        }
      }));
      for (const name of this.destinations.keys()) if (!this.topology.groups.some((g) => g.name === name)) this.destinations.delete(name);
      this.history.prune(now);
      this.polls++;
      this.changed();
    } finally {
      this.polling = false;
    }
  }

  /** The services the topology names that have an HTTP port, by `kind/id`. */
  private targets(): Array<{ key: string; host: string; port: number }> {
    const t = this.topology;
    const out: Array<{ key: string; host: string; port: number }> = [];
    for (const g of t.groups) for (const m of g.members) if (m.httpPort) out.push({ key: `store/${m.id}`, host: hostOf(m.address), port: m.httpPort });
    for (const c of t.coordinators) if (c.httpPort) out.push({ key: `coordinator/${c.id}`, host: hostOf(c.address), port: c.httpPort });
    for (const g of t.gateways) if (g.httpPort) out.push({ key: `gateway/${g.id}`, host: g.host || '127.0.0.1', port: g.httpPort });
    for (const b of t.bridges ?? []) if (b.httpPort) out.push({ key: `bridge/${b.id}`, host: b.host || '127.0.0.1', port: b.httpPort });
    return out;
  }

  private async scrape(): Promise<void> {
    if (this.scraping) return;
    this.scraping = true;
    try {
      const targets = this.targets();
      const now = Date.now();
      await Promise.all(targets.map(async (t) => {
        try {
          const samples = await fetchMetrics(t.host, t.port, this.o.timeoutMs);
          this.scraped.set(t.key, { health: 'up', samples });
        } catch {
          this.scraped.set(t.key, { health: 'down', samples: [] });
        }
      }));
      for (const k of this.scraped.keys()) if (!targets.some((t) => t.key === k)) this.scraped.delete(k);
      // The master's mean group commit (its RocksDB batch write) over the interval: part of
      // what a receipt waits for (a standalone store's whole durability step).
      for (const g of this.topology.groups) {
        const m = g.members.find((x) => x.id === g.masterId);
        const s = m && this.scraped.get(`store/${m.id}`);
        if (!s || s.health !== 'up') continue;
        const sumS = this.rates.rate(`commit/${g.name}/${m.id}/sum`, now, sum(s.samples, 'hawser_store_journal_commit_seconds_sum'));
        const count = this.rates.rate(`commit/${g.name}/${m.id}/count`, now, sum(s.samples, 'hawser_store_journal_commit_seconds_count'));
        if (sumS !== undefined && count !== undefined) this.history.record(`group/${g.name}/commitMs`, now, count > 0 ? (sumS / count) * 1000 : 0);
      }
      // What a producer waits for: SEND read -> RECEIPT written, measured by the gateways of
      // the group (separate ones and the stores' embedded ones); the mean over the interval.
      for (const g of this.topology.groups) {
        let total = 0;
        let count = 0;
        for (const gw of this.topology.gateways) {
          if (gw.group !== g.name) continue;
          const s = this.scraped.get(gw.node ? `store/${gw.node}` : `gateway/${gw.id}`);
          if (!s || s.health !== 'up') continue;
          total += sum(s.samples, 'hawser_gateway_receipt_seconds_sum');
          count += sum(s.samples, 'hawser_gateway_receipt_seconds_count');
        }
        const dSum = this.rates.rate(`receipt/${g.name}/sum`, now, total);
        const dCount = this.rates.rate(`receipt/${g.name}/count`, now, count);
        if (dSum !== undefined && dCount !== undefined) this.history.record(`group/${g.name}/receiptMs`, now, dCount > 0 ? (dSum / dCount) * 1000 : 0);
      }
      for (const b of this.topology.bridges ?? []) {
        const s = this.scraped.get(`bridge/${b.id}`);
        if (!s || s.health !== 'up') continue;
        const r = this.rates.rate(`bridge/${b.id}/forwarded`, now, sum(s.samples, 'hawser_bridge_forwarded_total'));
        if (r !== undefined) { this.bridgeRates.set(b.id, r); this.history.record(`bridge/${b.id}/forwardedRate`, now, r); }
      }
      this.changed();
    } finally {
      this.scraping = false;
    }
  }

  private health(key: string, port: number): Health {
    if (!port) return 'unknown';
    return this.scraped.get(key)?.health ?? 'unknown';
  }

  view(): ClusterView {
    const t = this.topology;
    return {
      at: Date.now(),
      source: this.o.coordinators.length > 0 ? 'coordinators' : 'stores',
      connected: this.connected,
      error: this.error,
      version: t.version,
      groups: t.groups.map((g) => ({
        name: g.name, state: g.state, epoch: g.epoch, masterId: g.masterId, masterAddress: g.masterAddress, replicas: g.replicas, message: g.message,
        members: g.members.map((m) => ({
          id: m.id, address: m.address, role: m.role, epoch: m.epoch, commitPosition: m.commitPosition, lastPosition: m.lastPosition,
          lagEntries: m.lagEntries, lagSeconds: m.lagSeconds, pid: m.pid, httpPort: m.httpPort, health: this.health(`store/${m.id}`, m.httpPort),
        })),
      })),
      coordinators: t.coordinators.map((c) => ({ id: c.id, address: c.address, leader: c.leader, pid: c.pid, httpPort: c.httpPort, health: this.health(`coordinator/${c.id}`, c.httpPort) })),
      gateways: t.gateways.map((g) => {
        const s = this.scraped.get(`gateway/${g.id}`) ?? (g.node ? this.scraped.get(`store/${g.node}`) : undefined);
        return {
          id: g.id, group: g.group, node: g.node ?? '', host: g.host, stompPort: g.stompPort, wsPort: g.wsPort, httpPort: g.httpPort, pid: g.pid,
          health: g.node ? this.health(`store/${g.node}`, 1) : this.health(`gateway/${g.id}`, g.httpPort),
          connections: s ? sumBy(s.samples, 'hawser_gateway_connections', 'protocol') : {},
        };
      }),
      bridges: (t.bridges ?? []).map((b) => ({
        id: b.id, link: b.link, active: b.active, groups: b.groups ?? [], host: b.host, httpPort: b.httpPort, pid: b.pid,
        health: this.health(`bridge/${b.id}`, b.httpPort), forwardedPerSecond: this.bridgeRates.get(b.id),
      })),
      destinations: [...this.destinations.values()].flat(),
      destinationErrors: { ...this.destinationErrors },
      events: this.events.slice(-50),
      deadLetterQueue: this.deadLetterQueue,
    };
  }
}
