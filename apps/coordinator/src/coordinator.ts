// The coordinator service: wires ZooKeeper (session, mirror, leadership), the leader's
// election runner, the topology (gRPC Topology service) and the metrics/health endpoint.
// A disconnection stops leadership at once; the session itself is kept through a ZooKeeper
// outage for as long as ZooKeeper keeps it (a quorum loss longer than the session timeout need
// not end it): reconnected, the coordinator leads again with the same znodes and mirror, and
// elects only if what it then reads asks for it. An expired session: the coordinator opens a
// new one and registers again (its gRPC and HTTP endpoints stay up meanwhile).
import { connect as zkConnect, type ZkClient } from '@hawser/zk';
import { grpc, secureServerOptions, SERVER_OPTIONS, serverCredentials, topologyService } from '@hawser/proto';
import type { MasterLost, TopologySnapshot } from '@hawser/proto';
import { createLogger, createRegistry, startHttpEndpoint, warnEvery, type Logger, type HttpEndpoint, type prom } from '@hawser/observability';
import type { Config } from './config';
import { validate } from './config';
import { Elector } from './elections';
import { Leadership } from './leadership';
import { Links } from './members';
import { createMetrics, GROUP_STATES, type Metrics } from './metrics';
import { Topology } from './topology';
import { ZkMirror, type GroupRecord } from './zk-mirror';

interface Session {
  zk: ZkClient;
  mirror: ZkMirror;
  leadership: Leadership;
  elector: Elector;
}

export interface CoordinatorOptions {
  log?: Logger;
  registry?: prom.Registry;
}

export class Coordinator {
  readonly log: Logger;
  readonly registry: prom.Registry;
  readonly metrics: Metrics;
  private readonly links = new Links();
  private readonly topology: Topology;
  private server: grpc.Server | undefined;
  private http: HttpEndpoint | undefined;
  private session: Session | undefined;
  private stopped = false;
  private connecting: Promise<void> | undefined;
  private readonly warn: ReturnType<typeof warnEvery>;
  grpcPort = 0;
  httpPort = 0;
  private address = '';
  private readonly root: string;
  private readonly publishedStates = new Map<string, string>();

  constructor(readonly config: Config, opts: CoordinatorOptions = {}) {
    validate(config);
    this.root = config.zk.path === '/' ? '' : config.zk.path;
    this.log = opts.log ?? createLogger({ service: 'coordinator', node: config.coordinator.id });
    this.registry = opts.registry ?? createRegistry('coordinator', { instance: config.coordinator.id });
    this.metrics = createMetrics(this.registry);
    this.warn = warnEvery(this.log, 10_000);
    this.topology = new Topology({
      mirror: () => this.session?.mirror,
      stateOf: (g) => this.session ? this.session.elector.stateOf(g) : { state: 'electing', message: 'coordinator not connected to ZooKeeper' },
      replicasOf: (g) => this.session ? this.session.elector.replicasOf(g) : config.election.defaultReplicas,
      isLeader: () => this.isLeader,
      reportMasterLost: (req) => this.reportMasterLost(req),
    }, this.links, config.status.intervalMs, this.log);
    this.topology.onPublish = (s) => this.observe(s);
  }

  get isLeader(): boolean {
    const s = this.session;
    return !!s && s.leadership.isLeader && s.zk.connected;
  }

  get snapshot(): TopologySnapshot { return this.topology.snapshot; }

  /** Starts gRPC and HTTP, then connects to ZooKeeper in the background (retrying until it can). */
  async start(): Promise<{ grpcPort: number; httpPort: number }> {
    const server = new grpc.Server(secureServerOptions(SERVER_OPTIONS, { registry: this.registry, log: this.log }));
    server.addService(topologyService().service, this.topology.service());
    this.grpcPort = await new Promise<number>((resolve, reject) => {
      server.bindAsync(`${this.config.grpc.host}:${this.config.grpc.port}`, serverCredentials(this.config.grpc.host, this.log), (err, port) => (err ? reject(err) : resolve(port)));
    });
    this.server = server;
    this.address = this.config.grpc.advertise || `${this.config.grpc.host}:${this.grpcPort}`;
    this.http = await startHttpEndpoint({
      log: this.log,
      host: this.config.http.host, port: this.config.http.port, registry: this.registry,
      routes: {
        '/topology': (_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify(this.snapshot) + '\n'); },
      },
    });
    this.httpPort = this.http.port;
    this.metrics.up.set(1);
    this.topology.startPolling((group) => { this.topology.changed(); this.session?.elector.evaluate(group); });
    this.connecting = this.connectLoop();
    return { grpcPort: this.grpcPort, httpPort: this.httpPort };
  }

  /** Resolves once the first ZooKeeper session is up and the mirror loaded (tests). */
  async whenConnected(): Promise<void> { await this.connecting; }

  private async connectLoop(): Promise<void> {
    let delay = 250;
    while (!this.stopped) {
      try {
        await this.openSession();
        return;
      } catch (e) {
        this.warn('zk-connect', { zk: this.config.zk.address, err: (e as Error).message }, `cannot reach ZooKeeper at ${this.config.zk.address}; retrying`);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  private async openSession(): Promise<void> {
    const zk = await zkConnect(this.config.zk.address, { sessionTimeoutMs: this.config.zk.sessionTimeout, connectTimeoutMs: Math.max(3000, this.config.zk.sessionTimeout), waitForServerExpiry: true });
    if (this.stopped) { await zk.close(); return; }
    try {
      await zk.mkdirp(`${this.root}/groups`);
      // zk.auth: znodes made before it was set (or by an older version) get the digest ACL.
      const secured = this.root ? await zk.secureTree(this.root) : 0;
      if (secured) this.log.info({ znodes: secured, zkPath: this.config.zk.path }, 'gave existing znodes the digest ACL (zk.auth)');
      await zk.mkdirp(`${this.root}/gateways`);
      const mirror = new ZkMirror(zk, this.root, this.config.groups, this.log);
      const elector = new Elector(zk, mirror, this.links, (g, id) => this.topology.statusOf(g, id), {
        coordinatorId: this.config.coordinator.id, root: this.root,
        prepareTimeoutMs: this.config.election.prepareTimeoutMs, prepareGraceMs: this.config.election.prepareGraceMs, assignTimeoutMs: this.config.election.assignTimeoutMs,
        retryMs: this.config.election.retryMs, defaultReplicas: this.config.election.defaultReplicas,
      }, this.metrics, this.log, () => this.topology.changed());
      const leadership = new Leadership(zk, `${this.root}/coordinators`, { id: this.config.coordinator.id, address: this.address, pid: process.pid, httpPort: this.httpPort }, this.log);
      const session: Session = { zk, mirror, leadership, elector };
      this.session = session;
      mirror.on('change', (c: { kind: string; group?: string }) => {
        this.topology.changed();
        if (c.kind === 'group' && c.group) elector.evaluate(c.group);
      });
      const leadershipChanged = () => {
        const leading = this.isLeader;
        this.metrics.leader.set(leading ? 1 : 0);
        elector.setLeading(leading);
        this.topology.changed();
      };
      leadership.on('change', (v: boolean) => {
        this.log.info({ leader: v, znode: leadership.nodeName }, v ? 'this coordinator leads' : 'this coordinator follows');
        leadershipChanged();
      });
      zk.on('disconnected', () => {
        this.metrics.zkConnected.set(0);
        this.log.warn({ zk: this.config.zk.address }, 'disconnected from ZooKeeper; not leading until reconnected');
        leadershipChanged();
      });
      zk.on('connected', () => {
        this.metrics.zkConnected.set(1);
        this.log.info({ zk: this.config.zk.address }, 'reconnected to ZooKeeper');
        leadershipChanged();
        void leadership.check();
      });
      zk.on('lost', () => {
        this.log.warn({ zk: this.config.zk.address }, 'no ZooKeeper for the whole session timeout; still trying the same session (ZooKeeper says whether it lives)');
      });
      zk.on('expired', () => {
        this.log.warn({ zk: this.config.zk.address }, 'ZooKeeper session expired; opening a new one');
        void this.dropSession(session).then(() => { if (!this.stopped) this.connecting = this.connectLoop(); });
      });
      this.metrics.zkConnected.set(1);
      await mirror.start();
      await leadership.start();
      this.log.info({ zk: this.config.zk.address, zkPath: this.config.zk.path, groups: [...mirror.groups.keys()], znode: leadership.nodeName }, 'connected to ZooKeeper');
      this.topology.changed();
    } catch (e) {
      if (this.session?.zk === zk) await this.dropSession(this.session);
      else await zk.close();
      throw e;
    }
  }

  private async dropSession(s: Session): Promise<void> {
    if (this.session === s) this.session = undefined;
    s.elector.stop();
    s.mirror.close();
    await s.leadership.stop();
    await s.zk.close();
    this.metrics.leader.set(0);
    this.metrics.zkConnected.set(0);
  }

  /** Leader: count the report; follower: forward it to the leader. */
  private async reportMasterLost(req: MasterLost): Promise<boolean> {
    const s = this.session;
    if (!s) return false;
    if (this.isLeader) return s.elector.reportMasterLost({ group: req.group, reporter: req.reporter, epoch: req.epoch, masterId: req.masterId });
    const leader = [...s.mirror.coordinators.values()][0];
    if (!leader || !leader.address || leader.address === this.address) return false;
    const reply = await this.links.reportMasterLost(leader.address, req, 1000);
    return reply.accepted;
  }

  /** Metrics and no-quorum logs from each published snapshot. */
  private observe(s: TopologySnapshot): void {
    for (const g of s.groups) {
      for (const st of GROUP_STATES) this.metrics.groupState.set({ group: g.name, state: st }, g.state === st ? 1 : 0);
      this.metrics.epoch.set({ group: g.name }, g.epoch);
      const prev = this.publishedStates.get(g.name);
      if (prev !== g.state) {
        this.publishedStates.set(g.name, g.state);
        const fields = { group: g.name, state: g.state, epoch: g.epoch, master: g.masterId || undefined, message: g.message };
        if (g.state === 'no-quorum') this.log.warn(fields, `group ${g.name}: ${g.message}`);
        else this.log.info(fields, `group ${g.name} is ${g.state}`);
      } else if (g.state === 'no-quorum') {
        this.warn(`no-quorum-state ${g.name}`, { group: g.name, message: g.message }, `group ${g.name}: ${g.message}`);
      }
    }
    // A group removed from ZooKeeper (`hawser group remove`) leaves the snapshot: its series go
    // too, or dashboards and alerts would go on showing its last state.
    for (const name of [...this.publishedStates.keys()]) {
      if (s.groups.some((g) => g.name === name)) continue;
      this.publishedStates.delete(name);
      for (const st of GROUP_STATES) this.metrics.groupState.remove({ group: name, state: st });
      this.metrics.epoch.remove({ group: name });
      this.log.info({ group: name }, `group ${name} is gone from ZooKeeper; no longer reported`);
    }
    this.metrics.watchers.set(this.topology.watcherCount);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.metrics.up.set(0);
    this.topology.close();
    if (this.session) await this.dropSession(this.session);
    this.links.close();
    if (this.server) {
      const srv = this.server;
      await new Promise<void>((r) => { const t = setTimeout(() => { srv.forceShutdown(); r(); }, 2000); srv.tryShutdown(() => { clearTimeout(t); r(); }); });
    }
    await this.http?.close();
  }

  /** The groups as the mirror has them (tests, debugging). */
  groupRecord(name: string): GroupRecord | undefined { return this.session?.mirror.groups.get(name); }
}
