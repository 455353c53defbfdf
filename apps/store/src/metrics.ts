// Prometheus metrics of the store (names hawser_store_*; README lists them).
import { prom } from '@hawser/observability';
import type { BrokerCore, Ready } from '@hawser/broker';
import type { ReplicatedJournal } from './replicated';

const ROLES = ['standalone', 'candidate', 'master', 'slave', 'fenced', 'diverged'] as const;

export class StoreMetrics {
  readonly sessions: prom.Gauge;
  readonly requests: prom.Counter<'kind'>;
  readonly enqueued: prom.Counter<'destination'>;
  readonly dequeued: prom.Counter<'destination'>;
  readonly acked: prom.Counter<'destination'>;
  readonly expired: prom.Counter<'destination'>;
  readonly deadLettered: prom.Counter<'destination'>;
  readonly dedupHits: prom.Counter;
  readonly forbidden: prom.Counter<'action'>;
  readonly discarded: prom.Counter;
  readonly selectorErrors: prom.Counter;
  readonly heldSends: prom.Counter;
  readonly refusedSends: prom.Counter;
  readonly commitSeconds: prom.Histogram;
  readonly batchEntries: prom.Histogram;
  readonly batchBytes: prom.Histogram;
  readonly pageReads: prom.Counter;
  readonly streamsFull: prom.Counter;

  constructor(registry: prom.Registry, core: () => BrokerCore | null, repl: () => ReplicatedJournal | null = () => null, roleOf: () => string = () => repl()?.role ?? 'standalone') {
    const registers = [registry];
    this.sessions = new prom.Gauge({ name: 'hawser_store_sessions', help: 'open Broker.Session streams', registers });
    this.forbidden = new prom.Counter({ name: 'hawser_store_forbidden_total', help: 'requests the authorization map refused (authorization.file), by action: read (SUBSCRIBE), write (SEND)', labelNames: ['action'], registers });
    this.requests = new prom.Counter({ name: 'hawser_store_requests_total', help: 'session requests by kind', labelNames: ['kind'], registers });
    this.enqueued = new prom.Counter({ name: 'hawser_store_messages_enqueued_total', help: 'messages enqueued per destination', labelNames: ['destination'], registers });
    this.dequeued = new prom.Counter({ name: 'hawser_store_messages_dequeued_total', help: 'messages removed per destination (acked, expired, dead-lettered, purged)', labelNames: ['destination'], registers });
    this.acked = new prom.Counter({ name: 'hawser_store_messages_acked_total', help: 'messages acknowledged per destination', labelNames: ['destination'], registers });
    this.expired = new prom.Counter({ name: 'hawser_store_messages_expired_total', help: 'messages expired per destination', labelNames: ['destination'], registers });
    this.deadLettered = new prom.Counter({ name: 'hawser_store_messages_dead_lettered_total', help: 'messages moved to the DLQ per destination', labelNames: ['destination'], registers });
    this.dedupHits = new prom.Counter({ name: 'hawser_store_dedup_hits_total', help: 'SENDs dropped as duplicates (receipted, not stored)', registers });
    this.discarded = new prom.Counter({ name: 'hawser_store_nonpersistent_discarded_total', help: 'non-persistent messages discarded because their queue or subscription held broker.maxNonPersistent', registers });
    this.selectorErrors = new prom.Counter({ name: 'hawser_store_selector_errors_total', help: 'selector evaluations that threw (the message did not match that subscription; dispatch went on)', registers });
    new prom.Gauge({
      name: 'hawser_store_durable_selectors_broken', help: 'durable subscriptions whose stored selector does not compile here (they receive nothing until re-subscribed)', registers,
      collect() { this.set(core()?.brokenDurables().length ?? 0); },
    });
    this.heldSends = new prom.Counter({ name: 'hawser_store_sends_held_total', help: 'SENDs held for room (broker.memoryLimit / broker.storeLimit reached): no receipt until consumers make room', registers });
    this.refusedSends = new prom.Counter({ name: 'hawser_store_sends_refused_total', help: 'SENDs refused with NO_SPACE (broker.sendFailIfNoSpace, or held past broker.sendFailIfNoSpaceAfterTimeout)', registers });
    const usage = (name: string, help: string, pick: (u: ReturnType<BrokerCore['usageStats']>) => number) =>
      new prom.Gauge({ name, help, registers, collect() { const c = core(); this.set(c ? pick(c.usageStats()) : 0); } });
    usage('hawser_store_memory_usage_bytes', 'bytes of messages held in memory for producer flow control (non-persistent, not yet durable, in open transactions)', (u) => u.memory);
    usage('hawser_store_memory_limit_bytes', 'broker.memoryLimit (0: none)', (u) => u.memoryLimit);
    usage('hawser_store_store_usage_bytes', 'bytes of persistent messages stored, as producer flow control counts them', (u) => u.store);
    usage('hawser_store_store_limit_bytes', 'broker.storeLimit (0: none)', (u) => u.storeLimit);
    usage('hawser_store_producers_blocked', 'sessions whose SENDs are held for room now', (u) => u.blockedProducers);
    usage('hawser_store_requests_held', 'requests held behind those SENDs now', (u) => u.heldRequests);
    usage('hawser_store_dedup_entries', 'keys in the dedup window (broker.dedupWindow)', (u) => u.dedupEntries);
    usage('hawser_store_dedup_scopes', 'producer scopes (logins, and the bridges) with keys in the dedup window', (u) => u.dedupScopes);
    this.commitSeconds = new prom.Histogram({ name: 'hawser_store_journal_commit_seconds', help: 'latency of one group commit (RocksDB batch write)', buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers });
    this.batchEntries = new prom.Histogram({ name: 'hawser_store_journal_batch_entries', help: 'journal entries per group commit', buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000], registers });
    this.batchBytes = new prom.Histogram({ name: 'hawser_store_journal_batch_bytes', help: 'encoded journal bytes per group commit', buckets: [256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304], registers });
    this.streamsFull = new prom.Counter({ name: 'hawser_store_session_streams_full_total', help: 'times a gateway\'s session stream (Broker.Session / Sessions) met a full buffer: its sessions get no deliveries until it drains', registers });
    this.pageReads = new prom.Counter({ name: 'hawser_store_page_reads_total', help: 'pages of messages read from disk into memory', registers });
    const gauge = (name: string, help: string, pick: (d: ReturnType<BrokerCore['destinations']>[number]) => number) =>
      new prom.Gauge({
        name, help, labelNames: ['destination'], registers,
        collect() {
          this.reset();
          for (const d of core()?.destinations() ?? []) this.set({ destination: d.name }, pick(d));
        },
      });
    gauge('hawser_store_queue_depth', 'messages waiting or in flight per destination', (d) => d.depth);
    gauge('hawser_store_queue_inflight', 'messages delivered and not yet acked per destination', (d) => d.inflight);
    gauge('hawser_store_queue_consumers', 'consumers per destination', (d) => d.consumers);
    new prom.Gauge({ name: 'hawser_store_journal_position', help: 'last journal position made', registers, collect() { this.set(core()?.position ?? 0); } });
    new prom.Counter({
      name: 'hawser_store_limit_refusals_total', help: 'requests refused because a limit of the store was reached, by the config key of the limit (since this broker core started)', labelNames: ['limit'], registers,
      collect() {
        this.reset();
        this.inc({ limit: 'broker.maxDestinations' }, core()?.destinationRefusals ?? 0);
        this.inc({ limit: 'broker.maxRetained' }, core()?.retainedStats().refused ?? 0);
      },
    });
    new prom.Gauge({ name: 'hawser_store_retained_messages', help: 'topics holding a retained message (ActiveMQ.Retain; bound broker.maxRetained)', registers, collect() { this.set(core()?.retainedStats().count ?? 0); } });
    new prom.Gauge({ name: 'hawser_store_retained_bytes', help: 'bytes of the retained messages, held in memory (bound broker.maxRetainedBytes)', registers, collect() { this.set(core()?.retainedStats().bytes ?? 0); } });
    new prom.Gauge({ name: 'hawser_store_journal_committed_position', help: 'last journal position durable', registers, collect() { this.set(core()?.committed ?? 0); } });

    // Replication (replicated mode; standalone reports role standalone).
    new prom.Gauge({
      name: 'hawser_store_role', help: '1 for the current role of this store', labelNames: ['role'], registers,
      collect() {
        const now = roleOf();
        for (const role of ROLES) this.set({ role }, role === now ? 1 : 0);
      },
    });
    new prom.Gauge({ name: 'hawser_store_epoch', help: 'epoch of the current role (master\'s or followed master\'s)', registers, collect() { this.set(repl()?.epoch ?? core()?.epoch ?? 0); } });
    new prom.Gauge({ name: 'hawser_store_commit_position', help: 'highest journal position known committed (held by a quorum)', registers, collect() { this.set(repl()?.replica.commitPosition ?? core()?.committed ?? 0); } });
    new prom.Gauge({
      name: 'hawser_store_replica_lag_entries', help: 'master: entries a slave lacks (last position minus its received)', labelNames: ['replica'], registers,
      collect() { this.reset(); for (const [id, l] of repl()?.lag() ?? []) this.set({ replica: id }, l.entries); },
    });
    new prom.Gauge({
      name: 'hawser_store_replica_lag_seconds', help: 'master: seconds since a slave last held every entry (0 when caught up)', labelNames: ['replica'], registers,
      collect() { this.reset(); for (const [id, l] of repl()?.lag() ?? []) this.set({ replica: id }, l.seconds); },
    });
    new prom.Counter({
      name: 'hawser_store_fenced_total', help: 'times this store stopped acting as master because of a newer epoch or a lost ZooKeeper session', registers,
      collect() { const r = repl(); if (r) { this.reset(); this.inc(r.fencedTotal); } },
    });
    new prom.Counter({
      name: 'hawser_store_replication_streams_stalled_total', help: 'master: slaves\' replication streams ended stalled: nothing came on them, or their slave took none of the entries waiting for it, for replication.masterTimeoutMs (the slave reports the master lost and redials)', registers,
      collect() { const r = repl(); if (r) { this.reset(); this.inc(r.stalledStreams); } },
    });
    new prom.Counter({
      name: 'hawser_store_replication_hellos_unanswered_total', help: 'slave: replication streams redialed on a new connection because the master did not answer their Hello in time (a connection held in TCP retransmission backoff)', registers,
      collect() { const r = repl(); if (r) { this.reset(); this.inc(r.links.unanswered); } },
    });
    new prom.Counter({
      name: 'hawser_store_master_lost_not_reported_total', help: 'slave: masterLost reports not sent because this store\'s own event loop had stalled within replication.masterTimeoutMs (the silence was its own)', registers,
      collect() { const r = repl(); if (r) { this.reset(); this.inc(r.ownStallsNotReported); } },
    });
    new prom.Counter({
      name: 'hawser_store_catchup_reads_total', help: 'reads of journal entries back from RocksDB for a slave behind what the replication log holds in memory (journal.retentionBytes)', registers,
      collect() { const r = repl(); if (r) { this.reset(); this.inc(r.catchUpReads); } },
    });
  }

  /** The data directory's disk and the journal's health (disk.ts, store.ts fail, replicated.ts diverge), read at scrape time. */
  health(state: () => { disk?: { free: number; total: number }; failed: boolean; diverged: boolean }, registry: prom.Registry): void {
    const registers = [registry];
    new prom.Gauge({
      name: 'hawser_store_disk_free_bytes', help: 'bytes free for the store on the data directory\'s filesystem (statfs, every journal.diskCheckMs; absent before the first measurement)', registers,
      collect() { this.reset(); const d = state().disk; if (d) this.set(d.free); },
    });
    new prom.Gauge({
      name: 'hawser_store_disk_total_bytes', help: 'size of the data directory\'s filesystem in bytes', registers,
      collect() { this.reset(); const d = state().disk; if (d) this.set(d.total); },
    });
    new prom.Gauge({ name: 'hawser_store_journal_failed', help: '1 once a journal write (or RocksDB open/batch) failed: the store serves nothing until restarted', registers, collect() { this.set(state().failed ? 1 : 0); } });
    new prom.Gauge({ name: 'hawser_store_diverged', help: '1 when this replica\'s log diverged below its commit point: wipe its data directory and restart it', registers, collect() { this.set(state().diverged ? 1 : 0); } });
  }

  record(r: Ready): void {
    // A deleted destination's series go (Admin.Delete), before this step's counts of a name made anew.
    for (const destination of r.forgotten) {
      for (const c of [this.enqueued, this.dequeued, this.acked, this.expired, this.deadLettered]) c.remove({ destination });
    }
    for (const s of r.stats) {
      const l = { destination: s.destination };
      if (s.enqueued) this.enqueued.inc(l, s.enqueued);
      if (s.dequeued) this.dequeued.inc(l, s.dequeued);
      if (s.acked) this.acked.inc(l, s.acked);
      if (s.expired) this.expired.inc(l, s.expired);
      if (s.deadLettered) this.deadLettered.inc(l, s.deadLettered);
    }
    if (r.dedupHits) this.dedupHits.inc(r.dedupHits);
    if (r.discarded) this.discarded.inc(r.discarded);
    if (r.selectorErrors) this.selectorErrors.inc(r.selectorErrors);
    if (r.heldSends) this.heldSends.inc(r.heldSends);
    if (r.refusedSends) this.refusedSends.inc(r.refusedSends);
  }
}
