// The store shell: wires the pure broker core to gRPC (Broker.Session, Admin), RocksDB
// (group commit, page reads) and a clock (expiry tick). After every event it takes the
// core's Ready and acts on it: entries to the journal, events to sessions, pages to read.
import type { AddressInfo } from 'node:net';
import { BrokerCore, parseDestination, type PageRequest, type Ready } from '@hawser/broker';
import { compileSelector } from '@hawser/selector';
import type { Recovered } from '@hawser/broker';
import {
  adminService, BATCH_BYTES, brokerService, CHANNEL_OPTIONS, channelCredentials, grpc, memberService, replicationService, secureServerOptions, SERVER_OPTIONS, serverCredentials, topologyService, type MasterLost,
  type AssignReply, type AssignRequest, type PrepareReply, type PrepareRequest, type ReplicationBatch, type SnapshotChunk, type SnapshotRequest,
  type BrowseItem, type BrowseRequest, type DestinationsReply, type DestinationsRequest, type PurgeReply, type PurgeRequest,
  type DeleteReply, type DeleteRequest, type MoveReply, type MoveRequest, type SendReply, type SendRequest,
  type SessionInfo, type SessionsReply, type SessionsRequest,
  type SessionEvents, type SessionRequest, type SessionRequests, type StatusReply, type MuxEvent, type MuxEvents, type MuxRequests,
} from '@hawser/proto';
import type { LocalBroker, LocalSession, LocalSessionSink } from '@hawser/gateway';
import { warnEvery, type Logger, type prom } from '@hawser/observability';
import { fsyncFor, type Config } from './config';
import { RocksJournal } from './journal';
import { RocksClosedError } from './rocks';
import type { Journal } from './journals';
import { LocalJournal } from './local-journal';
import { AuthorizationFile } from './authorization';
import { checkIdentity, IdentityError } from './identity';
import { DiskWatch, type DiskFree } from './disk';
import { StoreMetrics } from './metrics';
import { ReplicatedJournal } from './replicated';
import { Membership } from './membership';
import { adminDurable, adminMove, adminSend, AdminActionError } from './admin-actions';
import { eventBytes, StreamBuffer } from './stream-buffer';

type SessionCall = grpc.ServerDuplexStream<SessionRequests, SessionEvents>;
type MuxCall = grpc.ServerDuplexStream<MuxRequests, MuxEvents>;
type SessionEvent = SessionEvents['items'][number];

/**
 * The far end of one broker session: a gateway's Broker.Session stream (gRPC), or the
 * gateway embedded in this node (in-process). The store writes events and ends sessions
 * the same way for both.
 */
interface SessionPeer {
  write(events: SessionEvent[]): void;
  end(): void;
  /** How it reached this store (Admin.Sessions); none: an admin action's own session. */
  via?: 'local' | 'sessions' | 'session';
  /** The gRPC peer's address. */
  peer?: string;
}

export interface StoreDeps {
  config: Config;
  log: Logger;
  registry: prom.Registry;
  /** Replicated mode: member ids of the group as ZooKeeper lists them (when an Assign names none). */
  knownMembers?(): string[];
  /** Replicated mode: a slave lost its master (replication core's masterLost); default: Topology.ReportMasterLost to `coordinators`. */
  reportMasterLost?(epoch: number, masterId: string): void;
  /** The HTTP port (for the member znode). */
  httpPort?(): number;
}

export class Store {
  private core: BrokerCore | null = null;
  /** The disk: RocksDB (indexes, page reads, browse) under either journal. */
  private journal!: RocksJournal;
  /** Where the core's entries go: `localJournal` (standalone, shared-lock) or `repl` (replicated). */
  private log: Journal | null = null;
  private localJournal: LocalJournal | null = null;
  private server: grpc.Server | null = null;
  private readonly sessions = new Map<string, SessionPeer>();
  private nextSession = 1;
  private readonly pendingLoads: PageRequest[] = [];
  private loading = false;
  private tick: NodeJS.Timeout | null = null;
  private stopping = false;
  private failed: Error | null = null;
  private warnDiscarded: ReturnType<typeof warnEvery> | null = null;
  private warnSelectorErrors: ReturnType<typeof warnEvery> | null = null;
  readonly metrics: StoreMetrics;
  /** Replicated mode: the journal wrapped with the replication core. */
  repl: ReplicatedJournal | null = null;
  /** Replicated mode with zk.address: the member znode and its session. */
  membership: Membership | null = null;
  private topologyClients = new Map<string, grpc.Client>();
  private disk: DiskWatch | null = null;
  private failedOnce!: (err: Error) => void;
  /**
   * Resolves once the journal failed (a RocksDB write or open: disk full, read-only, I/O
   * error) and, replicated, this store has left its group (member znode dropped). main.ts
   * exits non-zero then, except standalone, which stays up refusing sessions and unhealthy.
   */
  readonly failure: Promise<Error> = new Promise((resolve) => { this.failedOnce = resolve; });
  grpcPort = 0;

  /** authorization.file: checked by the core for every SEND and SUBSCRIBE of every session. */
  private readonly authorizer: AuthorizationFile | undefined;
  private readonly warnForbidden: ReturnType<typeof warnEvery>;

  constructor(private readonly deps: StoreDeps) {
    this.metrics = new StoreMetrics(deps.registry, () => this.core, () => this.repl, () => this.status().role);
    this.metrics.health(() => ({ disk: this.disk?.current, failed: this.failed !== null, diverged: !!this.repl?.diverged }), deps.registry);
    const file = deps.config.authorization.file;
    this.authorizer = file ? new AuthorizationFile(file, deps.log) : undefined;
    this.warnForbidden = warnEvery(deps.log, 10_000);
  }

  get ready(): boolean { return this.core !== null && this.server !== null && !this.stopping && !this.failed && !this.repl?.diverged; }

  /** /healthz: false once the journal failed (the process is of no use until restarted on a working disk). */
  get healthy(): boolean { return !this.failed; }

  /** Free space on the data directory's filesystem, last measured (journal.diskCheckMs); undefined before the first measurement. */
  get diskFree(): DiskFree | undefined { return this.disk?.current; }

  /** Serves sessions: standalone, or the master of a replicated group. */
  get serving(): boolean { return this.ready && (!this.repl || this.repl.serving); }

  private makeCore(recovered: Recovered, epoch: number): BrokerCore {
    const c = this.deps.config;
    const core = new BrokerCore({
      group: c.group, node: c.node.id, epoch,
      defaultPrefetch: c.broker.defaultPrefetch, maximumRedeliveries: c.broker.maximumRedeliveries,
      deadLetterQueue: c.broker.deadLetterQueue, dedupWindow: c.broker.dedupWindow, pageSize: c.broker.pageSize,
      forcePersistent: c.broker.forcePersistent, maxNonPersistent: c.broker.maxNonPersistent, maxNonPersistentBytes: c.broker.maxNonPersistentBytes, maxDestinations: c.broker.maxDestinations, compileSelector: this.selectorCompiler,
      maxRetained: c.broker.maxRetained, maxRetainedBytes: c.broker.maxRetainedBytes,
      dedupWindowPerScope: c.broker.dedupWindowPerScope,
      authorizer: this.authorizer,
      onForbidden: (login, action, destination) => {
        this.metrics.forbidden.inc({ action });
        this.warnForbidden('forbidden', { login, action, destination }, 'request refused by the authorization map');
      },
      flow: {
        memoryLimit: c.broker.memoryLimit, storeLimit: c.broker.storeLimit, sendFailIfNoSpace: c.broker.sendFailIfNoSpace,
        sendFailIfNoSpaceAfterTimeout: c.broker.sendFailIfNoSpaceAfterTimeout, maxHeldRequests: c.broker.maxHeldRequests,
      },
    }, recovered);
    // Deliveries are not journaled: what it recovered may have gone out before a crash (D1, docs/reliability.md).
    core.markRecoveredPossiblyDelivered();
    this.reportBrokenDurables(core);
    return core;
  }

  /** Selectors compile within the broker.selector* limits (subscriptions and Admin.Browse alike). */
  private readonly selectorCompiler = (text: string) => {
    const b = this.deps.config.broker;
    return compileSelector(text, { maxLength: b.selectorMaxLength, maxDepth: b.selectorMaxDepth, maxInList: b.selectorMaxInList });
  };

  /** A restored durable subscription whose selector no longer compiles matches nothing: say so. */
  private reportBrokenDurables(core: BrokerCore): void {
    for (const d of core.brokenDurables()) {
      this.deps.log.warn({ clientId: d.clientId, durable: d.name, topic: d.topic, err: d.error },
        'durable subscription restored with a selector that does not compile here: it receives nothing until its client subscribes again with a valid selector (or unsubscribes it)');
    }
  }

  /**
   * Opens RocksDB, rebuilds the state from its indexes, and serves gRPC. shared-lock: serves
   * gRPC at once (refusing sessions) and takes the lock in the background (`locked`).
   */
  async start(): Promise<void> {
    const c = this.deps.config;
    if (c.ha.mode === 'shared-lock') {
      await this.bind();
      let tried!: () => void;
      const firstTry = new Promise<void>((r) => { tried = r; });
      this.locked = this.acquireLock(tried);
      this.locked.catch(() => undefined);
      await Promise.race([firstTry, this.locked]); // holding the lock, or logged that it waits
      return;
    }
    await this.open();
    await this.bind();
    await this.startReplication();
  }

  /** shared-lock: resolves once this store holds the data directory's lock and serves. */
  locked: Promise<void> = Promise.resolve();

  /** ActiveMQ's shared storage master/slave: whoever holds the RocksDB LOCK is master. */
  private async acquireLock(tried: () => void): Promise<void> {
    const c = this.deps.config;
    let last = 0;
    let waited = 0;
    for (;;) {
      if (this.stopping) return; // stopped while waiting: never serves
      try {
        await this.open();
        this.deps.log.info({ dataDir: c.node.dataDir, waitedMs: waited }, 'shared lock acquired: this store is the master');
        return;
      } catch (e) {
        const msg = String((e as Error & { cause?: Error }).cause?.message ?? (e as Error).message);
        if (e instanceof IdentityError || !/lock/i.test(msg)) throw e;
        if (Date.now() - last >= 30_000) {
          last = Date.now();
          this.deps.log.info({ dataDir: c.node.dataDir, retryMs: c.sharedLock.retryMs }, `waiting for the lock on ${c.node.dataDir}`);
        }
        tried();
      }
      await new Promise((r) => setTimeout(r, c.sharedLock.retryMs));
      waited += c.sharedLock.retryMs;
    }
  }

  private async open(): Promise<void> {
    const c = this.deps.config;
    this.journal = await RocksJournal.open(c.node.dataDir, {
      dedupWindow: c.broker.dedupWindow, retention: c.journal.retention,
      memory: { writeBufferBytes: c.journal.writeBufferBytes, cacheBytes: c.journal.cacheBytes },
    });
    try {
      const id = await checkIdentity(this.journal.db, { dir: c.node.dataDir, mode: c.ha.mode, group: c.group, node: c.node.id });
      if (id.written) this.deps.log.info({ dataDir: c.node.dataDir, identity: id.identity }, id.written === 'new' ? 'data directory identity written' : 'data directory adopted: identity written');
    } catch (e) {
      await this.journal.close().catch(() => undefined);
      throw e;
    }
    if (!this.disk) {
      this.disk = new DiskWatch({ dir: c.node.dataDir, warnBytes: c.journal.diskWarnBytes, checkMs: c.journal.diskCheckMs, log: this.deps.log });
      await this.disk.start();
    }
    const disk = c.ha.mode === 'replicated' ? await this.journal.recoverReplication() : null;
    const recovered = await this.journal.recover();
    this.core = this.makeCore(recovered, disk ? disk.appliedEpoch : this.journal.epoch);
    this.deps.log.info({ position: recovered.position, queues: recovered.queues.length, durables: recovered.durables.length, dedup: recovered.dedup.length }, 'journal recovered');
    if (disk) {
      this.repl = new ReplicatedJournal({
        id: c.node.id, group: c.group, replicas: c.replicas, sync: c.sync, weight: c.node.weight,
        masterTimeoutMs: c.replication.masterTimeoutMs, heartbeatMs: c.replication.heartbeatMs,
        maxBatch: c.journal.maxBatch, maxInflight: c.journal.maxInflight, ackHoldMs: c.journal.ackHoldMs, gatherMs: c.journal.gatherMs, replicaApplyMs: c.journal.replicaApplyMs, retention: c.journal.retention, retentionBytes: c.journal.retentionBytes, fsync: fsyncFor(c.sync), log: this.deps.log,
        knownMembers: () => this.membership?.knownMembers() ?? this.deps.knownMembers?.() ?? [],
        reportMasterLost: this.deps.reportMasterLost ?? ((epoch, masterId) => this.reportMasterLost(epoch, masterId)),
        // With ZooKeeper, no epoch above the group's published one is promised (docs/security.md).
        epochs: c.zk.address ? {
          published: () => this.membership?.publishedEpoch,
          read: () => (this.membership ? this.membership.readEpoch() : Promise.reject(new Error('not registered in ZooKeeper yet'))),
        } : undefined,
      }, this.journal, {
        makeCore: (r, epoch) => this.makeCore(r, epoch),
        setCore: (core) => { this.core = core; },
        endSessions: (code, message) => this.endSessions(code, message),
        drive: () => this.drive(),
        applied: () => this.load(),
        fail: (err) => this.fail(err),
      }, disk, this.core);
      this.deps.log.info({ promisedEpoch: disk.promisedEpoch, incarnation: disk.incarnation, snapshot: disk.snapshotPosition, applied: disk.applied, last: this.repl.replica.lastPosition }, 'replication state recovered');
      this.log = this.repl;
    } else {
      this.localJournal = new LocalJournal(this.journal, {
        maxBatch: c.journal.maxBatch, ackHoldMs: c.journal.ackHoldMs, fsync: fsyncFor(c.sync), metrics: this.metrics,
      }, () => this.core, { drive: () => this.drive(), applied: () => this.load(), fail: (err) => this.fail(err) });
      this.log = this.localJournal;
    }
  }

  private async bind(): Promise<void> {
    const c = this.deps.config;
    // With tls.*: mutual TLS, and every call checked against RPC_ROLES (@hawser/proto); a
    // replication peer must also be a member of this group as ZooKeeper lists them.
    const server = new grpc.Server(secureServerOptions(SERVER_OPTIONS, { registry: this.deps.registry, log: this.deps.log, admit: (method, peer) => this.admitPeer(method, peer) }));
    server.addService(brokerService().service, {
      Session: (call: SessionCall) => this.session(call),
      Sessions: (call: MuxCall) => this.muxSessions(call),
    });
    server.addService(adminService().service, {
      Destinations: (call: grpc.ServerUnaryCall<DestinationsRequest, DestinationsReply>, cb: grpc.sendUnaryData<DestinationsReply>) =>
        cb(null, { destinations: this.core?.destinations(call.request.prefix ?? '') ?? [] }),
      Purge: (call: grpc.ServerUnaryCall<PurgeRequest, PurgeReply>, cb: grpc.sendUnaryData<PurgeReply>) => {
        if (!this.serving || !this.core) {
          cb(Object.assign(new Error(this.notMasterMessage()), { code: grpc.status.FAILED_PRECONDITION }));
          return;
        }
        const r = this.core.purge(call.request.destination ?? '', Date.now());
        this.drive();
        if (r.ok) cb(null, { removed: r.removed });
        else cb(Object.assign(new Error(`${r.code}: ${r.message}`), { code: r.code === 'NOT_FOUND' ? grpc.status.NOT_FOUND : grpc.status.INVALID_ARGUMENT }));
      },
      Browse: (call: grpc.ServerWritableStream<BrowseRequest, BrowseItem>) => { void this.browse(call); },
      Status: (_call: unknown, cb: grpc.sendUnaryData<StatusReply>) => cb(null, this.status()),
      Sessions: (call: grpc.ServerUnaryCall<SessionsRequest, SessionsReply>, cb: grpc.sendUnaryData<SessionsReply>) =>
        cb(null, { sessions: this.sessionsInfo(call.request.destination ?? '') }),
      Send: (call: grpc.ServerUnaryCall<SendRequest, SendReply>, cb: grpc.sendUnaryData<SendReply>) => {
        const r = call.request;
        this.adminAction(cb, () => adminSend((p) => this.attach(p), {
          destination: r.destination ?? '', headers: r.headers ?? {}, body: Buffer.from(r.body ?? []), persistent: r.persistent ?? true, login: r.login ?? '', groups: r.groups ?? [],
        }).then((id) => ({ id })));
      },
      Move: (call: grpc.ServerUnaryCall<MoveRequest, MoveReply>, cb: grpc.sendUnaryData<MoveReply>) => {
        const r = call.request;
        const depth = this.core?.destinations(r.from ?? '').find((d) => d.name === r.from)?.depth ?? 0;
        this.adminAction(cb, () => adminMove((p) => this.attach(p), { from: r.from ?? '', to: r.to ?? '', limit: r.limit ?? 0, depth, login: r.login ?? '', groups: r.groups ?? [] }));
      },
      Delete: (call: grpc.ServerUnaryCall<DeleteRequest, DeleteReply>, cb: grpc.sendUnaryData<DeleteReply>) => {
        const destination = call.request.destination ?? '';
        this.adminAction(cb, async () => {
          const r = this.core!.deleteDestination(destination, Date.now());
          this.drive();
          if (!r.ok) throw new AdminActionError(r.code, r.message);
          await adminDurable((p) => this.attach(p));
          this.deps.log.info({ destination, removed: r.removed }, 'destination deleted (Admin.Delete)');
          return { removed: r.removed };
        });
      },
    });
    const repl = this.repl;
    if (repl) {
      server.addService(memberService().service, {
        Prepare: (call: grpc.ServerUnaryCall<PrepareRequest, PrepareReply>, cb: grpc.sendUnaryData<PrepareReply>) => {
          repl.prepare(call.request).then((r) => cb(null, r), (e: Error) => cb(e));
        },
        Assign: (call: grpc.ServerUnaryCall<AssignRequest, AssignReply>, cb: grpc.sendUnaryData<AssignReply>) => {
          repl.assign(call.request).then((r) => cb(null, r), (e: Error) => cb(e));
        },
      });
      server.addService(replicationService().service, {
        Stream: (call: grpc.ServerDuplexStream<ReplicationBatch, ReplicationBatch>) => repl.links.accept(call),
        Snapshot: (call: grpc.ServerWritableStream<SnapshotRequest, SnapshotChunk>) => { void repl.serveSnapshot(call); },
      });
    }
    this.grpcPort = await new Promise<number>((resolve, reject) => {
      server.bindAsync(`${c.grpc.host}:${c.grpc.port}`, serverCredentials(c.grpc.host, this.deps.log), (err, p) => (err ? reject(err) : resolve(p)));
    });
    this.server = server;
    this.tick = setInterval(() => {
      if (!this.serving) return; // expiry is the master's decision; replicas apply its entries
      this.core?.tick(Date.now());
      this.drive();
    }, c.tickMs);
    this.tick.unref();
  }

  private async startReplication(): Promise<void> {
    const c = this.deps.config;
    const repl = this.repl;
    if (repl) {
      repl.start();
      if (c.zk.address) {
        this.membership = new Membership({
          address: c.zk.address, root: c.zk.path, group: c.group, id: c.node.id, sessionTimeoutMs: c.zk.sessionTimeout, log: this.deps.log,
          data: () => ({ id: c.node.id, address: this.advertised, weight: c.node.weight, pid: process.pid, httpPort: this.deps.httpPort?.() ?? 0, replicas: c.replicas }),
          isMaster: () => repl.replica.role === 'master' || repl.serving,
          onLost: (why) => repl.zkLost(why),
          // Through a ZooKeeper outage the master serves on while its session may live (D6).
          onDisconnected: () => repl.zkDisconnected(),
          onSessionInDoubt: () => repl.zkInDoubt(),
          onReconnected: () => repl.zkReconnected(async () => {
            const m = this.membership!;
            const [epoch, z] = await Promise.all([m.readEpoch(), m.readMaster()]);
            return { epoch, ...z };
          }),
          onEpoch: (e) => repl.epochPublished(e),
          onMembers: (ids) => repl.remember(ids),
          onMaster: (m) => repl.hintMaster(m),
        });
        await this.membership.start();
      } else {
        this.deps.log.warn('replicated mode without zk.address: no member znode (a coordinator cannot find this store; tests only)');
      }
    }
  }

  /** masterLost: tell every configured coordinator (best effort; the leader acts on a quorum of reports). */
  private reportMasterLost(epoch: number, masterId: string): void {
    const c = this.deps.config;
    for (const address of c.coordinators) {
      let client = this.topologyClients.get(address);
      if (!client) {
        client = new (topologyService())(address, channelCredentials(), CHANNEL_OPTIONS);
        this.topologyClients.set(address, client);
      }
      (client as unknown as { ReportMasterLost(r: MasterLost, o: grpc.CallOptions, cb: (e: Error | null) => void): void })
        .ReportMasterLost({ group: c.group, reporter: c.node.id, epoch, masterId }, { deadline: Date.now() + 1000 }, () => { /* best effort */ });
    }
  }

  /**
   * mTLS: a store calling Replication must be a member of this group as ZooKeeper lists them
   * (its certificate's CN is its node.id). Without ZooKeeper (tests) any store is admitted.
   */
  private admitPeer(method: string, peer: { role: string; name: string }): string | null {
    if (!method.startsWith('/hawser.replication.') || peer.role !== 'store') return null;
    const known = this.membership?.knownMembers() ?? this.deps.knownMembers?.();
    if (!known || known.includes(peer.name)) return null;
    return `${method}: store ${peer.name} is not a member of group ${this.deps.config.group} (members: ${known.join(', ') || 'none'})`;
  }

  /** The address other members and gateways use (replicated: node.hostname). */
  get advertised(): string {
    const c = this.deps.config;
    return `${c.ha.mode === 'replicated' ? c.node.hostname : c.grpc.host}:${this.grpcPort}`;
  }

  /** The embedded gateway's ports, once it listens (main.ts sets them). */
  gatewayPorts: { stompPort: number; wsPort: number } | undefined;

  status(): StatusReply {
    return { ...this.roleStatus(), ...(this.gatewayPorts ?? {}) };
  }

  private roleStatus(): StatusReply {
    const c = this.deps.config;
    const r = this.repl;
    if (c.ha.mode === 'shared-lock') {
      return {
        node: c.node.id, group: c.group, role: this.core ? 'master' : 'slave', epoch: this.core?.epoch ?? 0,
        commitPosition: this.core?.committed ?? 0, lastPosition: this.core?.position ?? 0, pid: process.pid, address: `${c.grpc.host}:${this.grpcPort}`,
      };
    }
    if (r) {
      return {
        node: c.node.id, group: c.group, role: r.role, epoch: r.epoch,
        commitPosition: r.replica.commitPosition, lastPosition: r.replica.lastPosition,
        pid: process.pid, address: this.advertised,
      };
    }
    return {
      node: c.node.id, group: c.group, role: 'standalone', epoch: this.core?.epoch ?? 0,
      commitPosition: this.core?.committed ?? 0, lastPosition: this.core?.position ?? 0,
      pid: process.pid, address: `${c.grpc.host}:${this.grpcPort}`,
    };
  }

  /** NOT_MASTER text naming the master, so a gateway (or a person) knows where to go. */
  notMasterMessage(): string {
    const c = this.deps.config;
    const r = this.repl;
    if (c.ha.mode === 'shared-lock' && !this.core) return `store ${c.node.id} is a shared-lock slave waiting for the lock on ${c.node.dataDir}: connect to the store that holds it`;
    if (!r) return `store ${c.node.id} is not serving`;
    const m = r.masterId;
    if (r.role === 'master' && !r.serving) return `store ${c.node.id} is becoming the master of group ${c.group} (epoch ${r.epoch}): retry in a moment`;
    if (!m || m === c.node.id) return `store ${c.node.id} is not the master of group ${c.group} (role ${r.role}, epoch ${r.epoch}) and knows no master yet: retry, or ask the coordinator`;
    const addr = r.addressOf(m);
    return `store ${c.node.id} is not the master of group ${c.group}: the master is ${m}${addr ? ` at ${addr}` : ''} (epoch ${r.epoch}); connect to the master`;
  }

  /** Fencing/demotion: every session ends now with this error; nothing more is sent on them. */
  private endSessions(code: string, message: string): void {
    const peers = [...this.sessions.values()];
    this.sessions.clear();
    for (const peer of peers) {
      try {
        peer.write([{ kind: 'error', error: { requestId: 0, code, message, fatal: true } }]);
        peer.end();
      } catch { /* already gone */ }
    }
  }

  /** Stops serving: sessions end (their deliveries come back on the next start), the journal drains and closes. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.tick) clearInterval(this.tick);
    this.disk?.stop();
    await this.membership?.stop();
    await this.repl?.stop();
    for (const cl of this.topologyClients.values()) cl.close();
    const peers = [...this.sessions.values()];
    this.sessions.clear();
    for (const peer of peers) peer.end();
    await this.locked.catch(() => undefined);
    if (this.server) {
      const s = this.server;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { s.forceShutdown(); resolve(); }, 2000);
        s.tryShutdown(() => { clearTimeout(t); resolve(); });
      });
    }
    await this.localJournal?.stop();
    for (let i = 0; i < 500 && this.loading; i++) await new Promise((r) => setTimeout(r, 10));
    await this.journal?.close();
  }

  // ---- sessions --------------------------------------------------------------------------

  /** Why this node does not take a new session now, or null when it does. */
  private refusal(): { code: string; message: string } | null {
    if (this.failed) return this.failedRefusal(this.failed);
    if (this.stopping) return { code: 'UNAVAILABLE', message: 'the store is stopping: reconnect to another store of the group' };
    // A slave (or a candidate, or a fenced master) refuses: the gateway goes to the master.
    if (!this.serving) return { code: 'NOT_MASTER', message: this.notMasterMessage() };
    return null;
  }

  /**
   * A new session on the core: `id` names it in the core and in `sessions`. Returns the
   * functions that feed it requests and end it (the client went away; what it had not acked
   * comes back).
   */
  private attach(peer: SessionPeer): { requests(items: SessionRequest[]): void; end(): void; flow(paused: boolean, drive?: boolean): void } {
    const id = `${this.deps.config.node.id}-${this.nextSession++}`;
    this.sessions.set(id, peer);
    this.metrics.sessions.inc();
    let gone = false;
    return {
      requests: (items) => {
        if (gone || !this.core || this.sessions.get(id) !== peer) return;
        for (const r of items) this.metrics.requests.inc({ kind: r.kind ?? 'unknown' });
        this.core.handle(id, items, Date.now());
        this.drive();
      },
      end: () => {
        if (gone) return;
        gone = true;
        this.metrics.sessions.dec();
        if (this.sessions.get(id) === peer) this.sessions.delete(id);
        this.core?.sessionEnded(id, Date.now());
        this.drive();
      },
      // The far end's stream is full (paused) or drained: deliveries wait for it in the core,
      // bounded by the queues, not in the stream's buffer.
      flow: (paused, drive = true) => {
        if (gone || !this.core || this.sessions.get(id) !== peer) return;
        if (paused) { this.core.pauseSession(id); return; }
        this.core.resumeSession(id, Date.now());
        if (drive) this.drive();
      },
    };
  }

  /**
   * Admin.Sessions: the core's sessions with how each reached this store (docs/reliability.md
   * D8: a session that outlived its client is named by its connection id and gateway).
   */
  sessionsInfo(destination = ''): SessionInfo[] {
    return (this.core?.sessionsInfo(destination) ?? []).map((x) => {
      const p = this.sessions.get(x.id);
      return { ...x, via: p ? p.via ?? 'admin' : '', peer: p?.peer ?? '' };
    });
  }

  /** Broker.Session over gRPC: a separate gateway, or the gateway of another node. */
  private session(call: SessionCall): void {
    const refused = this.refusal();
    if (refused) {
      call.write({ items: [{ kind: 'error', error: { requestId: 0, ...refused, fatal: true } }] });
      call.end();
      return;
    }
    const buffer = new StreamBuffer(this.deps.config.grpc.streamBufferBytes, () => {
      this.metrics.streamsFull.inc();
      queueMicrotask(() => s.flow(true)); // not inside the drive that wrote
    }, () => s.flow(false));
    const s = this.attach({
      via: 'session',
      peer: call.getPeer(),
      write: (events) => {
        let bytes = 0;
        for (const e of events) bytes += eventBytes(e);
        buffer.write(bytes, (done) => call.write({ items: events }, done));
      },
      end: () => { try { call.end(); } catch { /* gone */ } },
    });
    call.on('data', (batch: SessionRequests) => s.requests(batch.items ?? []));
    call.on('end', () => { s.end(); try { call.end(); } catch { /* gone */ } });
    call.on('error', s.end);
    call.on('cancelled', s.end);
    call.on('close', s.end);
  }

  /**
   * Broker.Sessions: every session of one gateway on one stream. Events of one drive go out
   * as ONE MuxEvents message (queued on a microtask), whatever sessions they belong to.
   */
  private muxSessions(call: MuxCall): void {
    type Handle = ReturnType<Store['attach']>;
    const open = new Map<number, Handle>();
    /** Sessions refused at their first request: their further requests are dropped until the gateway ends them. */
    const refused = new Set<number>();
    let out: MuxEvent[] = [];
    let scheduled = false;
    let gone = false;
    const peer = call.getPeer();
    // Written and not yet taken by HTTP/2 above grpc.streamBufferBytes: every session on the
    // stream is paused until half of it is taken (the gateway reads slowly, or not at all).
    const buffer = new StreamBuffer(this.deps.config.grpc.streamBufferBytes, () => {
      this.metrics.streamsFull.inc();
      for (const h of open.values()) h.flow(true);
    }, () => {
      if (gone) return;
      for (const h of [...open.values()]) h.flow(false, false);
      this.drive(); // once for all of them
    });
    const send = (items: MuxEvent[], bytes: number) => buffer.write(bytes, (done) => call.write({ items }, done));
    const flush = () => {
      scheduled = false;
      if (gone || !out.length) return;
      const all = out;
      out = [];
      // Cut at BATCH_BYTES of delivered bodies: a drive's 64 MiB deliveries are not one gRPC message.
      let items: MuxEvent[] = [];
      let bytes = 0;
      try {
        for (const e of all) {
          const n = eventBytes(e.event ?? undefined);
          if (items.length && bytes + n > BATCH_BYTES) { send(items, bytes); items = []; bytes = 0; }
          items.push(e);
          bytes += n;
        }
        send(items, bytes);
      } catch { /* the stream is gone: its close ends the sessions */ }
    };
    const push = (e: MuxEvent) => {
      out.push(e);
      if (!scheduled) { scheduled = true; queueMicrotask(flush); }
    };
    const start = (id: number): Handle | undefined => {
      const why = this.refusal();
      if (why) {
        refused.add(id);
        push({ session: id, event: { kind: 'error', error: { requestId: 0, ...why, fatal: true } } as SessionEvent });
        push({ session: id, end: true });
        return undefined;
      }
      const h = this.attach({
        via: 'sessions',
        peer,
        write: (events) => { for (const event of events) push({ session: id, event }); },
        // The store ended the session (close done, fatal error, demotion): tell the gateway,
        // then let the core forget it, outside the dispatch that ended it.
        end: () => {
          push({ session: id, end: true });
          const mine = open.get(id);
          if (mine) { open.delete(id); queueMicrotask(() => mine.end()); }
        },
      });
      open.set(id, h);
      if (buffer.full) h.flow(true);
      return h;
    };
    call.on('data', (batch: MuxRequests) => {
      if (gone) return;
      // Consecutive requests of one session reach the core together (one handle, one drive).
      let cur = -1;
      let run: SessionRequest[] = [];
      const deliver = () => { if (run.length) open.get(cur)?.requests(run); run = []; };
      for (const it of batch.items ?? []) {
        const id = Number(it.session);
        if (id !== cur) { deliver(); cur = id; }
        if (it.end) {
          // The session's requests of this batch first: an end right behind them (a client
          // that publishes and disconnects at once) must not drop them.
          deliver();
          refused.delete(id);
          const h = open.get(id);
          if (h) { open.delete(id); h.end(); }
          continue;
        }
        if (!it.request || refused.has(id)) continue;
        if (!open.has(id) && !start(id)) continue;
        run.push(it.request);
      }
      deliver();
    });
    const endAll = () => {
      if (gone) return;
      gone = true;
      for (const h of open.values()) h.end();
      open.clear();
    };
    call.on('end', () => { endAll(); try { call.end(); } catch { /* gone */ } });
    call.on('error', endAll);
    call.on('cancelled', endAll);
    call.on('close', endAll);
  }

  /**
   * The broker core as this node's embedded gateway sees it (home 2): sessions whose master
   * is this node run in-process, without gRPC or protobuf.
   */
  readonly local: LocalBroker = this.makeLocal();

  private makeLocal(): LocalBroker {
    const store = this;
    return {
      get address() { return store.advertised; },
      get serving() { return store.serving; },
      openSession(sink: LocalSessionSink): LocalSession {
        const refused = store.refusal();
        if (refused) {
          sink.events([{ kind: 'error', error: { requestId: 0, ...refused, fatal: true } }]);
          sink.ended();
          return { requests() {}, end() {} };
        }
        // The store ended it (close done, fatal error, demotion): tell the gateway, then let the
        // core forget it outside the dispatch that ended it — as muxSessions does. The gateway
        // sends no end of its own after the store's (LocalChannel), so nobody else would.
        const h = store.attach({ via: 'local', write: (events) => sink.events(events), end: () => { sink.ended(); queueMicrotask(() => h.end()); } });
        return h;
      },
    };
  }

  /** Acts on the core's Ready: persist, send, read pages. */
  private drive(): void {
    const core = this.core;
    if (!core) return;
    const r: Ready = core.takeReady();
    this.metrics.record(r);
    if (r.selectorErrors) {
      this.warnSelectorErrors ??= warnEvery(this.deps.log, 10_000);
      this.warnSelectorErrors('selectorErrors', { count: r.selectorErrors },
        'selectors threw while matching messages: each such message did not match that subscription; dispatch went on');
    }
    if (r.discarded) {
      this.warnDiscarded ??= warnEvery(this.deps.log, 10_000);
      const b = this.deps.config.broker;
      this.warnDiscarded('discarded', { count: r.discarded, max: b.maxNonPersistent, maxBytes: b.maxNonPersistentBytes },
        'non-persistent messages discarded: a queue or subscription holds broker.maxNonPersistent(Bytes) (consumers too slow or absent)');
    }
    if (r.entries.length && !this.failed) this.log?.submit(r.entries);
    for (const o of r.outbound) {
      const peer = this.sessions.get(o.sessionId);
      if (!peer) continue;
      if (o.events.length) peer.write(o.events as SessionEvent[]);
      if (o.end) { this.sessions.delete(o.sessionId); peer.end(); }
    }
    if (r.loads.length) { this.pendingLoads.push(...r.loads); this.load(); }
  }

  /**
   * The journal failed (a RocksDB write: disk full, read-only, I/O error): nothing after it can
   * be receipted. Every session ends with the error (a SEND waiting for its receipt gets an
   * ERROR instead), new ones are refused, /readyz and /healthz answer 503. Replicated: the
   * replicated journal has stopped its heartbeats and links; the member znode goes now, so
   * the coordinator elects another master at once, then `failure` resolves and main.ts exits 1.
   * Standalone: it stays up, refusing sessions with the error, until restarted.
   */
  private fail(err: Error): void {
    if (this.failed) return;
    // A write that stop() closed the journal under (the write loop outlived its wait): the
    // store is stopping, not failing; it exits as a stop does.
    if (this.stopping && err instanceof RocksClosedError) return;
    this.failed = err;
    const c = this.deps.config;
    const free = this.disk?.current;
    void this.disk?.check(); // the gauge shows the space now, not up to journal.diskCheckMs ago
    this.deps.log.error({ err, dataDir: c.node.dataDir, haMode: c.ha.mode, diskFreeBytes: free?.free },
      c.ha.mode === 'standalone'
        ? 'journal write failed: ending every session and refusing new ones; fix the disk (free space, remount read-write) and restart the store'
        : 'journal write failed: leaving the group (member znode dropped, sessions ended) and exiting; fix the disk and restart the store');
    const refused = this.failedRefusal(err);
    this.endSessions(refused.code, refused.message);
    const left = this.membership ? this.membership.stop().catch(() => undefined) : Promise.resolve();
    void left.then(() => {
      if (this.membership) this.deps.log.warn({ path: this.membership.memberPath }, 'member znode dropped: the group elects another master');
      this.failedOnce(err);
    });
  }

  /** What sessions hear from a store whose journal failed (replicated: a failover code, so gateways move). */
  private failedRefusal(err: Error): { code: string; message: string } {
    const c = this.deps.config;
    const what = `store ${c.node.id}'s journal failed (${err.message})`;
    if (c.ha.mode === 'standalone') {
      return { code: 'STORE_DISK', message: `${what}: it accepts no writes until the disk under ${c.node.dataDir} is fixed (free space, remount read-write) and the store restarted` };
    }
    return { code: 'UNAVAILABLE', message: `${what}: it left group ${c.group}; reconnect to the group's new master` };
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

  /** Admin.Send / Move / Delete (admin-actions.ts): on the master only; a refusal keeps its code (IN_USE: FAILED_PRECONDITION). */
  private adminAction<T>(cb: grpc.sendUnaryData<T>, run: () => Promise<T>): void {
    if (!this.serving || !this.core) {
      cb(Object.assign(new Error(this.notMasterMessage()), { code: grpc.status.FAILED_PRECONDITION }));
      return;
    }
    run().then((reply) => cb(null, reply), (e: Error) => {
      const code = e instanceof AdminActionError
        ? ({ FORBIDDEN: grpc.status.PERMISSION_DENIED, INVALID_DESTINATION: grpc.status.INVALID_ARGUMENT, NOT_FOUND: grpc.status.NOT_FOUND, TIMEOUT: grpc.status.DEADLINE_EXCEEDED, NO_SPACE: grpc.status.RESOURCE_EXHAUSTED } as Record<string, grpc.status>)[e.code] ?? grpc.status.FAILED_PRECONDITION
        : grpc.status.INTERNAL;
      cb(Object.assign(new Error(e.message), { code }));
    });
  }

  private async browse(call: grpc.ServerWritableStream<BrowseRequest, BrowseItem>): Promise<void> {
    try {
      const { destination, limit, selector } = call.request;
      const d = parseDestination(destination);
      const win = this.core?.windowOf(destination);
      if (!d && !win) throw new Error(`invalid destination '${destination}': use /queue/<name>, or a durable subscription's backlog name from Admin.Destinations`);
      // Topics keep no messages (a publish goes straight to the subscribers' queues).
      if (d?.type === 'topic') throw new Error(`cannot browse topic '${destination}': topics have no stored messages; browse a queue, or a durable subscription's backlog by the name Admin.Destinations lists for it (durable:<client>:<name>)`);
      const sel = selector ? this.selectorCompiler(selector) : null;
      const filter = (m: { headers: Record<string, string>; id: string; priority: number; timestamp: number; expires: number; persistent: boolean }) => {
        if (!sel) return true;
        try { return sel.matches(m); } catch { return false; } // as in the core: a throw is no match
      };
      const max = limit > 0 ? limit : 1000;
      const items = await this.journal.browse(win?.storeId ?? destination, max, filter);
      for (const m of win?.messages ?? []) if (!m.persistent && items.length < max && filter(m)) items.push({ message: m, failed: 0 });
      for (const { message: m, failed } of items) {
        call.write({ id: m.id, destination: m.destination, headers: m.headers, body: m.body, persistent: m.persistent, priority: m.priority, expires: m.expires, timestamp: m.timestamp, deliveryCount: failed });
      }
      call.end();
    } catch (e) {
      // grpc-js: emitting 'error' on a server stream sends it as the call's status; destroy()
      // would end the stream without a status and leave the client waiting.
      call.emit('error', Object.assign(new Error((e as Error).message), { code: grpc.status.INVALID_ARGUMENT }));
    }
  }

  /** The bound address, for tests. */
  address(): AddressInfo { return { address: this.deps.config.grpc.host, family: 'IPv4', port: this.grpcPort }; }
}
