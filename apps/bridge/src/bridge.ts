// The bridge process: takes the link's lock (active/standby), follows the groups' masters and
// runs the Forwarder while it holds the lock. Usable in-process (tests) and from main.ts.
import { hostname } from 'node:os';
import { createLogger, createRegistry, startHttpEndpoint, prom, type HttpEndpoint, type Logger } from '@hawser/observability';
import type { Config } from './config';
import { validate } from './config';
import { Forwarder } from './forwarder';
import { NoLock, ZkLock, type ActiveLock } from './lock';
import { StaticMasters, TopologyMasters, type MasterDirectory } from './masters';
import { BridgeMetrics } from './metrics';

export type BridgeState = 'down' | 'standby' | 'active';
const STATE_VALUE: Record<BridgeState, number> = { down: 0, standby: 1, active: 2 };

export class Bridge {
  readonly log: Logger;
  readonly registry: prom.Registry;
  readonly metrics: BridgeMetrics;
  readonly linkName: string;
  state: BridgeState = 'down';
  private http: HttpEndpoint | undefined;
  private masters: MasterDirectory | undefined;
  private forwarder: Forwarder | undefined;
  private lock: ActiveLock | undefined;

  constructor(private readonly config: Config, log?: Logger) {
    const { linkName } = validate(config);
    this.linkName = linkName;
    this.log = log ?? createLogger({ service: 'bridge', node: config.bridge.id });
    this.registry = createRegistry('bridge', { instance: config.bridge.id });
    this.metrics = new BridgeMetrics(this.registry);
  }

  get httpPort(): number { return this.http?.port ?? 0; }

  async start(): Promise<this> {
    const c = this.config;
    const { link, stores } = validate(c);
    this.setState('down');
    this.http = await startHttpEndpoint({
      log: this.log,
      host: c.http.host,
      port: c.http.port,
      registry: this.registry,
      ready: () => this.state !== 'down',
      routes: {
        '/status': (_req, res) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(this.status()) + '\n');
        },
      },
    });
    this.masters = c.stores.length > 0 ? new StaticMasters(stores) : new TopologyMasters(c.coordinators, c.groups, this.log);
    this.masters.start();
    this.forwarder = new Forwarder({
      bridgeId: c.bridge.id,
      linkName: this.linkName,
      principal: { login: c.bridge.login, groups: c.bridge.groups },
      link,
      prefetch: c.prefetch,
      demandPollMs: c.demandPollMs,
      masters: this.masters,
      metrics: this.metrics,
      log: this.log,
    });
    this.lock = c.zk.address
      ? new ZkLock({
          address: c.zk.address,
          root: c.zk.path,
          link: this.linkName,
          sessionTimeoutMs: c.zk.sessionTimeout,
          info: { id: c.bridge.id, pid: process.pid, host: hostname(), httpPort: this.http.port, link: this.linkName, groups: c.groups },
          log: this.log,
        })
      : new NoLock();
    this.lock.on('acquired', () => this.becomeActive());
    this.lock.on('lost', () => this.becomeStandby());
    this.log.info({ httpPort: this.http.port, pid: process.pid, link: this.linkName, groups: c.groups }, 'bridge ready');
    await this.lock.start();
    if (!this.lock.held && this.state === 'down') this.becomeStandby();
    return this;
  }

  private setState(s: BridgeState): void {
    this.state = s;
    this.metrics.linkState.set({ link: this.linkName }, STATE_VALUE[s]);
    this.metrics.lockHolder.set(s === 'active' ? 1 : 0);
  }

  private becomeActive(): void {
    if (this.state === 'active') return;
    this.setState('active');
    this.log.info({ link: this.linkName, pid: process.pid }, 'bridge active');
    this.forwarder?.start();
  }

  private becomeStandby(): void {
    this.forwarder?.stop();
    this.setState('standby');
    this.log.info({ link: this.linkName, pid: process.pid }, 'bridge standby');
  }

  status(): Record<string, unknown> {
    return { id: this.config.bridge.id, link: this.linkName, state: this.state, pid: process.pid, ...(this.forwarder?.status() ?? {}) };
  }

  async stop(): Promise<void> {
    this.forwarder?.close();
    this.masters?.stop();
    await this.lock?.stop();
    this.setState('down');
    await this.http?.close();
  }
}
