// A replicated Hawser cluster for tests and benchmarks: a private ZooKeeper (short tickTime,
// so the stores' short session timeouts are granted), N stores in `--ha.mode replicated`,
// coordinators, and gateways that follow the coordinators' topology. Built on Harness
// (temp dir, logs, PID cleanup); ZooKeeper comes from @hawser/zookeeper-launcher.
//
// Used by src/replicated-*.e2e.spec.ts and by tools/bench (failover benchmark), which
// imports the compiled module (@hawser/integration/dist/cluster).
import { join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { startZooKeeper, startEnsemble, type Ensemble, type ZooKeeperServer } from '@hawser/zookeeper-launcher';
import {
  adminService, topologyService, grpc, CHANNEL_OPTIONS,
  type GroupInfo, type StatusReply, type TopologySnapshot,
} from '@hawser/proto';
import { Harness, ServiceProcess, Store, Gateway, checkFor, freePort, HarnessError, AbortCheck } from './harness';
import { SecureMaterial } from './secure';

export interface ClusterOptions {
  /** Temp dir prefix. */
  name: string;
  /** Stores started (default 3). */
  stores?: number;
  /** The group's configured size (default: stores). */
  replicas?: number;
  coordinators?: number;
  /** Separate gateway processes (default 1). */
  gateways?: number;
  /** Every store also serves clients (--gateway.enabled, home 2): Store.stompUri. Default false. */
  embeddedGateways?: boolean;
  group?: string;
  /** ZooKeeper tickTime (ms); the server grants session timeouts from 2x to 20x it. Default 200. */
  tickTime?: number;
  /** Stores' --zk.sessionTimeout (ms). Default 1000. */
  sessionTimeoutMs?: number;
  /** ZooKeeper servers: 1 (default, standalone) or an ensemble of N (Cluster.ensemble; tools/chaos kills its members). */
  zkServers?: number;
  /** Stores' --replication.masterTimeoutMs (slave: report masterLost after this silence). Default 1000. */
  masterTimeoutMs?: number;
  /** Gateways' --failover.maxWaitMs. Default 15000. */
  maxWaitMs?: number;
  /** Stores' --sync (default: the store's default, quorum_mem). */
  sync?: string;
  storeArgs?: string[];
  coordinatorArgs?: string[];
  gatewayArgs?: string[];
  /** Deadline for the group to be `ok` with a master after start (default 30 s). */
  readyDeadlineMs?: number;
  /** Mutual TLS between every service (certificates made under the temp dir) and ZooKeeper digest ACLs (secure.ts). */
  secure?: boolean;
  /**
   * Prefix of this group's store and gateway ids (default ''; Cluster.join() defaults it to
   * `<group>-`, so the groups sharing one temp dir get distinct data dirs and log files).
   */
  idPrefix?: string;
  /** Data directory of store `id` (default <temp dir>/data-<id>), e.g. a filesystem mounted for it. */
  dataDirOf?: (id: string) => string;
  /** Services in network namespaces (tools/chaos partitions); needs zkServers > 1. */
  net?: ClusterNet;
}

/**
 * Where services live when some run in network namespaces: the ones left in the root
 * namespace are reached at `host` (coordinators listen on every address and advertise it),
 * ZooKeeper's client ports at `zkHost`; `place` puts a service (by process name, e.g.
 * `store-s1`, `bridge-b1`) in a namespace: the command that runs node there and its address.
 */
export interface ClusterNet {
  host: string;
  zkHost: string;
  /** subjectAltNames of every certificate (secure): every address above. */
  certHosts: string[];
  place(name: string): { wrap: string[]; host: string } | undefined;
}

/** Options of a further group joining an existing cluster's ZooKeeper and coordinators. */
export type JoinOptions = Omit<ClusterOptions, 'name' | 'coordinators' | 'tickTime' | 'coordinatorArgs'> & { group: string };

/** A bridge process (apps/bridge): ready line `bridge ready` (httpPort), then `bridge active|standby`. */
export class Bridge extends ServiceProcess {
  get httpPort(): number { return this.field('httpPort'); }
  /** How many times it logged `bridge <state>` so far. */
  count(state: 'active' | 'standby'): number { return this.logLines(new RegExp(`"msg":"bridge ${state}"`)).length; }
  /** Waits until it has logged `bridge <state>` at least `n` times. */
  waitState(state: 'active' | 'standby', deadlineMs = 20_000, n = 1): Promise<void> {
    return checkFor(deadlineMs, 50, () => {
      if (!this.alive) throw new AbortCheck(`${this.name} exited (${JSON.stringify(this.lastExit)}) before 'bridge ${state}'`);
      if (this.count(state) < n) throw new ClusterError('NOT_YET', `${this.name} has logged 'bridge ${state}' ${this.count(state)} time(s), waiting for ${n}`);
    });
  }
}

export interface BridgeOptions {
  /** --bridge.id (also the process name `bridge-<id>`). */
  id?: string;
  /** Extra flags, e.g. ['--networkTTL', '2']. */
  args?: string[];
  /** --zk.sessionTimeout (ms): bounds a standby's takeover after a kill -9. Default 1000. */
  sessionTimeoutMs?: number;
}

/** A coordinator process (Topology served on its gRPC port). */
export class Coordinator extends ServiceProcess {
  get grpcPort(): number { return this.field('grpcPort'); }
  get httpPort(): number { return this.field('httpPort'); }
  get address(): string { return `127.0.0.1:${this.grpcPort}`; }
}

export class ClusterError extends HarnessError {}

type Unary = (req: unknown, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

function unary<T>(client: grpc.Client, method: string, req: unknown, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, Unary>)[method];
    if (typeof fn !== 'function') { reject(new ClusterError('NO_METHOD', `no gRPC method ${method}`)); return; }
    fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res as T)));
  });
}

/** Resolves after `ms` (used only where the wait itself is the thing under test, e.g. a SIGSTOP). */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface MasterWait {
  /** Not this store id (the one just killed). */
  exclude?: string;
  /** An epoch strictly above this one. */
  aboveEpoch?: number;
  deadlineMs?: number;
}

export class Cluster {
  readonly h: Harness;
  readonly opts: Required<Pick<ClusterOptions, 'group' | 'tickTime' | 'sessionTimeoutMs' | 'masterTimeoutMs' | 'maxWaitMs' | 'replicas'>> & ClusterOptions;
  zk!: ZooKeeperServer;
  /** The ensemble when started with zkServers > 1 (zk then stands for all of it: connect lists every server). */
  ensemble: Ensemble | undefined;
  readonly stores: Store[] = [];
  readonly coordinators: Coordinator[];
  readonly gateways: Gateway[] = [];
  /** Bridges started with startBridge() (shared by every group of the cluster). */
  readonly bridges: Bridge[];
  /** Groups that joined this cluster (Cluster.join); the base cluster closes them first. */
  readonly joined: Cluster[] = [];
  /** The cluster whose ZooKeeper and coordinators this group uses (undefined: its own). */
  readonly base: Cluster | undefined;
  private readonly clients = new Map<string, grpc.Client>();
  private readonly paused = new Set<number>();
  private coordinatorPorts: number[] = [];
  private closed = false;

  private constructor(opts: ClusterOptions, base?: Cluster) {
    const stores = opts.stores ?? 3;
    this.opts = {
      group: 'g1', tickTime: 200, sessionTimeoutMs: 1000, masterTimeoutMs: 1000, maxWaitMs: 15_000, replicas: opts.replicas ?? stores,
      ...opts,
    };
    this.base = base;
    this.h = base ? base.h : new Harness(opts.name);
    this.coordinators = base ? base.coordinators : [];
    this.bridges = base ? base.bridges : [];
    if (base) {
      this.zk = base.zk;
      this.ensemble = base.ensemble;
      this.coordinatorPorts = base.coordinatorPorts;
    }
    this.secure = base ? base.secure : opts.secure ? new SecureMaterial(this.h.root, opts.net?.certHosts) : undefined;
  }

  /** secure: the certificates and ZooKeeper credentials; undefined: insecure. */
  readonly secure: SecureMaterial | undefined;

  /** The --tls.* and --zk.auth flags of a service (none when not secure). */
  private secureArgs(role: 'store' | 'coordinator' | 'gateway' | 'bridge', id: string): string[] {
    return this.secure ? this.secure.args(role, id) : [];
  }

  /**
   * Another replicated group on the same ZooKeeper and coordinators (they serve every group):
   * starts its stores, waits for its master, starts its gateways. Its stores and gateways are
   * named with the prefix `<group>-` (store ids `g2-s1`, ...). `base.close()` stops it.
   */
  static async join(base: Cluster, opts: JoinOptions): Promise<Cluster> {
    if (base.base) throw new ClusterError('NOT_BASE', 'join the cluster that owns ZooKeeper, not a joined group');
    const c = new Cluster({
      tickTime: base.opts.tickTime, sessionTimeoutMs: base.opts.sessionTimeoutMs, masterTimeoutMs: base.opts.masterTimeoutMs,
      maxWaitMs: base.opts.maxWaitMs, idPrefix: `${opts.group}-`, ...opts, name: `${base.opts.name}/${opts.group}`,
    }, base);
    base.joined.push(c);
    const t0 = Date.now();
    try {
      const nStores = opts.stores ?? 3;
      await Promise.all(Array.from({ length: nStores }, (_, i) => c.startStore(`${c.prefix}s${i + 1}`)));
      await c.waitForMaster({ deadlineMs: opts.readyDeadlineMs ?? 30_000 });
      const nGw = opts.gateways ?? 1;
      await Promise.all(Array.from({ length: nGw }, (_, i) => c.startGateway(`${c.prefix}gw${i + 1}`)));
      process.stderr.write(`[cluster] ${c.opts.name}: joined with ${nStores} stores, ${nGw} gateway(s) in ${Date.now() - t0} ms\n`);
    } catch (err) {
      process.stderr.write(`\n[cluster] join of ${opts.group} failed: ${(err as Error).message}\n${base.logTails(60)}\n`);
      throw err;
    }
    return c;
  }

  private get prefix(): string { return this.opts.idPrefix ?? ''; }

  /**
   * A bridge process linking `groups` (group names, or clusters) through this cluster's
   * coordinators, with the active/standby lock in its ZooKeeper. Resolves once it logged
   * `bridge ready` (not yet active: see Bridge.waitState).
   */
  async startBridge(groups: Array<string | Cluster>, opts: BridgeOptions = {}): Promise<Bridge> {
    const id = opts.id ?? `b${this.bridges.length + 1}`;
    const names = groups.map((g) => (typeof g === 'string' ? g : g.opts.group));
    const b = new Bridge({
      name: `bridge-${id}`, script: 'apps/bridge/dist/main.js',
      args: ['--bridge.id', id, '--groups', names.join(','), '--coordinators', this.coordinatorAddresses.join(','),
        '--zk.address', this.zk.connect, '--zk.sessionTimeout', String(opts.sessionTimeoutMs ?? 1000),
        '--http.port', '0', ...this.secureArgs('bridge', id), ...(opts.args ?? [])],
      readyMsg: 'bridge ready',
      portFlags: { '--http.port': 'httpPort' },
      ...(this.opts.net?.place(`bridge-${id}`) ? { wrap: this.opts.net.place(`bridge-${id}`)!.wrap } : {}),
    }, this.h.logDir);
    this.bridges.push(b);
    return this.h.startService(b);
  }

  /** Starts ZooKeeper, the stores, the coordinators, waits for a master, then the gateways. */
  static async start(opts: ClusterOptions): Promise<Cluster> {
    const c = new Cluster(opts);
    try {
      await c.boot();
    } catch (err) {
      process.stderr.write(`\n[cluster] start failed: ${(err as Error).message}\n${c.logTails(60)}\n`);
      await c.close();
      throw err;
    }
    return c;
  }

  private async boot(): Promise<void> {
    const o = this.opts;
    const t0 = Date.now();
    this.zk = (o.zkServers ?? 1) > 1 ? await this.bootEnsemble(o.zkServers!, o.tickTime) : await startZooKeeper({ dataDir: join(this.h.root, 'zookeeper'), tickTime: o.tickTime });
    // Coordinators' ports are picked up front so the stores can be told where to report
    // masterLost (--coordinators) before the coordinators exist.
    const nCoord = o.coordinators ?? 2;
    for (let i = 0; i < nCoord; i++) {
      let p: number;
      do { p = await freePort(); } while (this.coordinatorPorts.includes(p));
      this.coordinatorPorts.push(p);
    }
    const nStores = o.stores ?? 3;
    await Promise.all(Array.from({ length: nStores }, (_, i) => this.startStore(`${this.prefix}s${i + 1}`)));
    await Promise.all(this.coordinatorPorts.map((port, i) => this.startCoordinator(`c${i + 1}`, port)));
    await this.waitForMaster({ deadlineMs: o.readyDeadlineMs ?? 30_000 });
    const nGw = o.gateways ?? 1;
    await Promise.all(Array.from({ length: nGw }, (_, i) => this.startGateway(`${this.prefix}gw${i + 1}`)));
    process.stderr.write(`[cluster] ${this.opts.name}: ZooKeeper pid ${this.zk.pid}, ${nStores} stores, ${nCoord} coordinators, ${nGw} gateway(s) up in ${Date.now() - t0} ms (${this.h.root})\n`);
  }

  /** An ensemble of `n` servers, seen through the ZooKeeperServer shape (stop/kill9 act on all of it). */
  private async bootEnsemble(n: number, tickTime: number): Promise<ZooKeeperServer> {
    const net = this.opts.net;
    const e = await startEnsemble({ size: n, baseDir: join(this.h.root, 'zookeeper'), tickTime, ...(net ? { clientPortAddress: '0.0.0.0' } : {}) });
    this.ensemble = e;
    const first = e.servers[0]!;
    return {
      port: first.port, connect: net ? e.servers.map((x) => `${net.zkHost}:${x.port}`).join(',') : e.connect, pid: first.pid, dataDir: first.dataDir, logFile: first.logFile,
      stop: () => e.stop(), kill9: async () => { await Promise.all(e.servers.map((_, i) => e.kill9Server(i))); },
      exited: new Promise<void>(() => undefined),
    };
  }

  get coordinatorAddresses(): string[] { return this.coordinatorPorts.map((p) => `${this.opts.net?.host ?? '127.0.0.1'}:${p}`); }

  /** --grpc.host/--node.hostname (and the embedded gateway's listeners) of a store placed by opts.net. */
  private netStoreArgs(id: string): string[] {
    const net = this.opts.net;
    if (!net) return [];
    const h = net.place(`store-${id}`)?.host ?? net.host;
    // The embedded gateway's anonymous STOMP listens on a private lab address, not loopback: said so explicitly.
    return ['--grpc.host', h, '--node.hostname', h, ...(this.opts.embeddedGateways ? ['--gateway.stomp.host', h, '--gateway.ws.host', h, '--gateway.mqtt.host', h, '--gateway.auth.allowInsecureNetwork', 'true'] : [])];
  }

  storeArgs(id: string): string[] {
    const o = this.opts;
    return [
      '--group', o.group, '--node.id', id, '--node.dataDir', this.dataDirOf(id),
      '--grpc.port', '0', '--http.port', '0',
      '--ha.mode', 'replicated', '--replicas', String(o.replicas),
      '--zk.address', this.zk.connect, '--zk.sessionTimeout', String(o.sessionTimeoutMs),
      '--replication.masterTimeoutMs', String(o.masterTimeoutMs),
      '--coordinators', this.coordinatorAddresses.join(','),
      ...(o.sync ? ['--sync', o.sync] : []),
      ...(o.embeddedGateways ? ['--gateway.enabled', 'true', '--gateway.auth.anonymous', 'true', '--gateway.stomp.port', '0', '--gateway.ws.port', '0', '--gateway.failover.maxWaitMs', String(o.maxWaitMs)] : []),
      ...this.secureArgs('store', id),
      ...this.netStoreArgs(id),
      ...(o.storeArgs ?? []),
    ];
  }

  dataDirOf(id: string): string { return this.opts.dataDirOf?.(id) ?? join(this.h.root, `data-${id}`); }

  /** A failover URI listing every store's embedded gateway (embeddedGateways). */
  embeddedFailoverUri(options = 'randomize=false&initialReconnectDelay=20&maxReconnectDelay=500'): string {
    return `failover:(${this.stores.map((s) => s.stompUri).join(',')})?${options}`;
  }

  /**
   * Starts (the first time) a store with id `id`; restart a stopped one with store.restart().
   * `extra` comes after the cluster's arguments (the last of a repeated flag wins), e.g. a
   * node joining with another `--replicas`.
   */
  async startStore(id: string, extra: string[] = []): Promise<Store> {
    const dataDir = this.dataDirOf(id);
    const store = new Store({
      name: `store-${id}`, script: 'apps/store/dist/main.js', args: [...this.storeArgs(id), ...extra], readyMsg: 'store ready',
      ...(this.opts.net ? { wrap: this.opts.net.place(`store-${id}`)?.wrap, host: this.opts.net.place(`store-${id}`)?.host ?? this.opts.net.host } : {}),
      portFlags: {
        '--grpc.port': 'grpcPort', '--http.port': 'httpPort',
        // --gateway.mqtt.port when storeArgs turn MQTT on: a restart binds the same port again.
        ...(this.opts.embeddedGateways ? { '--gateway.stomp.port': 'stompPort', '--gateway.ws.port': 'wsPort', '--gateway.mqtt.port': 'mqttPort' } : {}),
      },
    }, this.h.logDir, dataDir);
    this.stores.push(store);
    return this.h.startService(store);
  }

  async startCoordinator(id: string, port: number): Promise<Coordinator> {
    const c = new Coordinator({
      name: `coordinator-${id}`, script: 'apps/coordinator/dist/main.js',
      args: ['--coordinator.id', id, '--zk.address', this.zk.connect, '--grpc.port', String(port), '--http.port', '0', ...this.secureArgs('coordinator', id),
        ...(this.opts.net ? ['--grpc.host', '0.0.0.0', '--grpc.advertise', `${this.opts.net.host}:${port}`] : []), ...(this.opts.coordinatorArgs ?? [])],
      readyMsg: 'coordinator ready',
      portFlags: { '--grpc.port': 'grpcPort', '--http.port': 'httpPort' },
    }, this.h.logDir);
    this.coordinators.push(c);
    return this.h.startService(c);
  }

  async startGateway(id = `${this.prefix}gw${this.gateways.length + 1}`, extra: string[] = []): Promise<Gateway> {
    const g = new Gateway({
      name: `gateway-${id}`, script: 'apps/gateway/dist/main.js',
      args: ['--gateway.id', id, '--group', this.opts.group, '--coordinators', this.coordinatorAddresses.join(','),
        '--zk.address', this.zk.connect, '--failover.maxWaitMs', String(this.opts.maxWaitMs),
        '--stomp.port', '0', '--ws.port', '0', '--http.port', '0', '--auth.anonymous', 'true', ...this.secureArgs('gateway', id), ...(this.opts.gatewayArgs ?? []), ...extra],
      readyMsg: 'gateway ready',
      // --mqtt.port when gatewayArgs turn MQTT on: a restart binds the same port again.
      portFlags: { '--stomp.port': 'stompPort', '--ws.port': 'wsPort', '--http.port': 'httpPort', '--mqtt.port': 'mqttPort' },
    }, this.h.logDir);
    this.gateways.push(g);
    return this.h.startService(g);
  }

  get gateway(): Gateway {
    const g = this.gateways[0];
    if (!g) throw new ClusterError('NO_GATEWAY', 'the cluster has no gateway');
    return g;
  }

  store(id: string): Store {
    const s = this.stores.find((x) => x.name === `store-${id}`);
    if (!s) throw new ClusterError('NO_STORE', `no store ${id} (have ${this.stores.map((x) => x.name).join(', ')})`);
    return s;
  }

  /** The node id of a store process (its name is store-<id>). */
  idOf(s: Store): string { return s.name.replace(/^store-/, ''); }

  private client(kind: 'topology' | 'admin', address: string): grpc.Client {
    const key = `${kind}@${address}`;
    let c = this.clients.get(key);
    if (!c) {
      const Ctor = kind === 'topology' ? topologyService() : adminService();
      c = new Ctor(address, this.secure ? this.secure.credentials() : grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
      this.clients.set(key, c);
    }
    return c;
  }

  /** Topology.Get from the first live coordinator that answers. */
  async topology(timeoutMs = 1000): Promise<TopologySnapshot> {
    let last: unknown;
    for (const c of this.coordinators) {
      if (!c.alive) continue;
      try {
        return await unary<TopologySnapshot>(this.client('topology', c.address), 'Get', { group: '' }, timeoutMs);
      } catch (err) { last = err; }
    }
    throw new ClusterError('NO_TOPOLOGY', `no coordinator answered Topology.Get: ${(last as Error | undefined)?.message ?? 'none alive'}`);
  }

  /** This cluster's group as the coordinators publish it. */
  async group(timeoutMs = 1000): Promise<GroupInfo> {
    const snap = await this.topology(timeoutMs);
    const g = snap.groups.find((x) => x.name === this.opts.group);
    if (!g) throw new ClusterError('NO_GROUP', `topology (version ${snap.version}) has no group ${this.opts.group} (groups: ${snap.groups.map((x) => x.name).join(', ') || 'none'})`);
    return g;
  }

  /** Admin.Status of one store. */
  status(s: Store, timeoutMs = 1000): Promise<StatusReply> {
    return unary<StatusReply>(this.client('admin', s.address), 'Status', {}, timeoutMs);
  }

  /** Admin.Status of every live (and not paused) store, by node id. */
  async statuses(timeoutMs = 1000): Promise<Map<string, StatusReply>> {
    const out = new Map<string, StatusReply>();
    await Promise.all(this.stores.filter((s) => s.alive && !this.paused.has(s.pid ?? -1)).map(async (s) => {
      try { out.set(this.idOf(s), await this.status(s, timeoutMs)); } catch { /* not answering */ }
    }));
    return out;
  }

  /**
   * Polls Topology.Get until the group is `ok` with a master (not `exclude`, epoch above
   * `aboveEpoch`) whose process is alive and whose Admin.Status says master in that epoch.
   */
  async waitForMaster(w: MasterWait = {}): Promise<{ store: Store; group: GroupInfo }> {
    return checkFor(w.deadlineMs ?? 20_000, 50, async () => {
      const g = await this.group();
      if (g.state !== 'ok' || !g.masterId) throw new ClusterError('NO_MASTER', `group ${g.name} is ${g.state || '?'} (master '${g.masterId}', epoch ${g.epoch}): ${g.message}`);
      if (w.exclude !== undefined && g.masterId === w.exclude) throw new ClusterError('SAME_MASTER', `master is still ${g.masterId} (epoch ${g.epoch})`);
      if (w.aboveEpoch !== undefined && g.epoch <= w.aboveEpoch) throw new ClusterError('OLD_EPOCH', `epoch ${g.epoch} not above ${w.aboveEpoch} (master ${g.masterId})`);
      const store = this.store(g.masterId);
      if (!store.alive) throw new ClusterError('DEAD_MASTER', `topology names ${g.masterId} master but its process is not running`);
      const st = await this.status(store);
      if (st.role !== 'master' || st.epoch !== g.epoch) throw new ClusterError('NOT_YET', `${g.masterId} says role ${st.role} epoch ${st.epoch}; topology says master in epoch ${g.epoch}`);
      return { store, group: g };
    });
  }

  /** The current master store (waits briefly for one). */
  async master(deadlineMs = 10_000): Promise<Store> {
    return (await this.waitForMaster({ deadlineMs })).store;
  }

  /** The live stores that are not the master. */
  async slaves(deadlineMs = 10_000): Promise<Store[]> {
    const m = await this.master(deadlineMs);
    return this.stores.filter((s) => s !== m && s.alive);
  }

  /** Waits until `s` says role slave and its last position equals the master's (nothing in flight). */
  async waitCaughtUp(s: Store, deadlineMs = 20_000): Promise<{ slave: StatusReply; master: StatusReply }> {
    return checkFor(deadlineMs, 100, async () => {
      const m = await this.master(2000);
      const [ms, ss] = await Promise.all([this.status(m), this.status(s)]);
      if (ss.role !== 'slave') throw new ClusterError('NOT_SLAVE', `${ss.node} is ${ss.role} (epoch ${ss.epoch})`);
      if (ss.lastPosition !== ms.lastPosition || ss.epoch !== ms.epoch) {
        throw new ClusterError('BEHIND', `${ss.node} at (epoch ${ss.epoch}, last ${ss.lastPosition}, commit ${ss.commitPosition}); master ${ms.node} at (epoch ${ms.epoch}, last ${ms.lastPosition}, commit ${ms.commitPosition})`);
      }
      return { slave: ss, master: ms };
    });
  }

  /**
   * Waits until every store process is alive, one is master, the others are slaves in the
   * same epoch within `maxLag` entries of it (usable while traffic flows, unlike waitCaughtUp).
   */
  async waitHealthy(maxLag = 500, deadlineMs = 30_000): Promise<{ master: Store; group: GroupInfo }> {
    return checkFor(deadlineMs, 100, async () => {
      const { store: master, group } = await this.waitForMaster({ deadlineMs: 2000 });
      const ms = await this.status(master);
      for (const s of this.stores) {
        if (s === master) continue;
        if (!s.alive) throw new ClusterError('DOWN', `${s.name} is not running`);
        const ss = await this.status(s);
        if (ss.role !== 'slave' || ss.epoch !== ms.epoch || ms.lastPosition - ss.lastPosition > maxLag) {
          throw new ClusterError('BEHIND', `${ss.node}: ${ss.role} epoch ${ss.epoch} last ${ss.lastPosition}; master ${ms.node} epoch ${ms.epoch} last ${ms.lastPosition}`);
        }
      }
      return { master, group };
    });
  }

  /** SIGSTOP a store (its process lives but does nothing: a partition from everyone). */
  pause(s: Store): void {
    const pid = s.pid;
    if (!pid || !s.alive) throw new ClusterError('NOT_RUNNING', `${s.name} is not running`);
    process.kill(pid, 'SIGSTOP');
    this.paused.add(pid);
  }

  /** SIGCONT a store stopped by pause(). */
  resume(s: Store): void {
    const pid = s.pid;
    if (!pid || !this.paused.has(pid)) return;
    this.paused.delete(pid);
    try { process.kill(pid, 'SIGCONT'); } catch { /* gone */ }
  }

  /** For afterEach((t) => cluster.reportIfFailed(t)): service logs plus ZooKeeper's tail. */
  reportIfFailed(t: { passed?: boolean; name?: string }, lines = 80): void {
    if (t.passed === false) process.stderr.write(`\n[cluster] test "${t.name}" failed; logs:\n${this.logTails(lines)}\n`);
  }

  logTails(lines = 80): string {
    let zk = '';
    if (this.zk && existsSync(this.zk.logFile)) {
      const text = readFileSync(this.zk.logFile, 'utf8').trimEnd().split('\n').slice(-Math.min(lines, 30)).join('\n');
      zk = `\n--- zookeeper (pid ${this.zk.pid}) ${this.zk.logFile} ---\n${text}`;
    }
    return this.h.logTails(lines) + zk;
  }

  /** Stops everything (gateways, coordinators, stores, then ZooKeeper) by PID and removes the temp dir. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.base) {
      // A joined group: its own gateways and stores only (ZooKeeper, coordinators, bridges and
      // the temp dir belong to the base cluster).
      for (const c of this.clients.values()) c.close();
      this.clients.clear();
      await Promise.all(this.gateways.map((g) => g.stop(5000).catch(() => undefined)));
      await Promise.all(this.stores.map((s) => s.stop(5000).catch(() => undefined)));
      return;
    }
    await Promise.all(this.bridges.map((b) => b.stop(5000).catch(() => undefined)));
    for (const j of this.joined) await j.close();
    for (const pid of this.paused) { try { process.kill(pid, 'SIGCONT'); } catch { /* gone */ } }
    this.paused.clear();
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
    await Promise.all(this.gateways.map((g) => g.stop(5000).catch(() => undefined)));
    await Promise.all([...this.coordinators, ...this.stores].map((s) => s.stop(5000).catch(() => undefined)));
    await this.zk?.stop().catch(() => undefined);
    await this.h.close();
  }
}

// ---- reading a stopped store's journal (the "identical log" check) --------------------

interface RawIt { next(cb: (err: Error | null | undefined, k?: Buffer, v?: Buffer) => void): void; end(cb: (err?: Error | null) => void): void }
interface RawDb {
  open(o: Record<string, unknown>, cb: (err?: Error | null) => void): void;
  close(cb: (err?: Error | null) => void): void;
  iterator(o: Record<string, unknown>): RawIt;
}

/**
 * The journal entries (RocksDB keys `j\0<position:16 hex>`, apps/store/README.md) of a
 * STOPPED store's data dir, position -> raw entry bytes.
 */
export async function readJournal(dataDir: string): Promise<Map<number, Buffer>> {
  if (!existsSync(dataDir)) throw new ClusterError('NO_DATA', `${dataDir} does not exist`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const rocksdb = require('rocksdb') as (loc: string) => RawDb;
  const db = rocksdb(dataDir);
  await new Promise<void>((res, rej) => db.open({ createIfMissing: false }, (e) => (e ? rej(e) : res())));
  const out = new Map<number, Buffer>();
  try {
    const it = db.iterator({ gte: 'j\u0000', lt: 'j\u0001', keyAsBuffer: true, valueAsBuffer: true });
    for (;;) {
      const kv = await new Promise<[Buffer, Buffer] | undefined>((res, rej) => it.next((e, k, v) => (e ? rej(e) : res(k === undefined ? undefined : [k, v!]))));
      if (!kv) break;
      out.set(parseInt(kv[0].subarray(2).toString('latin1'), 16), kv[1]);
    }
    await new Promise<void>((res) => it.end(() => res()));
  } finally {
    await new Promise<void>((res) => db.close(() => res()));
  }
  return out;
}

/** Compares two journals over the positions both still hold; returns the differences (empty: identical). */
/**
 * The live stores, once every one but `master` has caught up with it, stopped, and their
 * journals compared entry for entry with the first's: the differences (none when they agree).
 */
export async function stopAndCompareJournals(c: Cluster, master: Store): Promise<string[]> {
  const live = c.stores.filter((s) => s.alive);
  for (const s of live) if (s !== master) await c.waitCaughtUp(s, 30_000);
  await Promise.all(live.map((s) => s.stop()));
  const journals = await Promise.all(live.map((s) => readJournal(s.dataDir)));
  return journals.slice(1).flatMap((j, i) => journalDiff(journals[0]!, j).map((d) => `${live[i + 1]!.name} vs ${live[0]!.name}: ${d}`));
}

/** Sets a flag's value in a service's arguments, for its next restart (e.g. a store's `--replicas`). */
export function setArg(s: ServiceProcess, flag: string, value: string): void {
  const args = s.spec.args;
  const i = args.lastIndexOf(flag);
  if (i < 0) args.push(flag, value);
  else args[i + 1] = value;
}

export function journalDiff(a: Map<number, Buffer>, b: Map<number, Buffer>, max = 10): string[] {
  const diffs: string[] = [];
  const lastA = Math.max(0, ...a.keys());
  const lastB = Math.max(0, ...b.keys());
  if (lastA !== lastB) diffs.push(`last positions differ: ${lastA} vs ${lastB}`);
  for (const [pos, va] of a) {
    const vb = b.get(pos);
    if (vb === undefined) continue; // trimmed by retention on one side
    if (!va.equals(vb)) diffs.push(`entry ${pos} differs (${va.length} vs ${vb.length} bytes)`);
    if (diffs.length >= max) break;
  }
  return diffs;
}

export { checkFor, AbortCheck, Store, Gateway };

// ---- client-side bookkeeping shared by the scenarios and the benchmark -----------------

/** Counts of each body consumed, and which copies came with redelivered:true. */
export interface Consumed { counts: Map<string, number>; redelivered: Map<string, number>; total: number }

export function tally(messages: Array<{ text: string; redelivered: boolean }>): Consumed {
  const counts = new Map<string, number>();
  const redelivered = new Map<string, number>();
  for (const m of messages) {
    counts.set(m.text, (counts.get(m.text) ?? 0) + 1);
    if (m.redelivered) redelivered.set(m.text, (redelivered.get(m.text) ?? 0) + 1);
  }
  return { counts, redelivered, total: messages.length };
}

/** Receipted bodies not consumed, bodies consumed that were never sent, and duplicates. */
export function compare(sent: Iterable<string>, got: Consumed): { lost: string[]; unknown: string[]; duplicates: string[] } {
  const s = new Set(sent);
  return {
    lost: [...s].filter((b) => !got.counts.has(b)),
    unknown: [...got.counts.keys()].filter((b) => !s.has(b)),
    duplicates: [...got.counts].filter(([, n]) => n > 1).map(([b]) => b),
  };
}
