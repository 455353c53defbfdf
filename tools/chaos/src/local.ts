// The private deployment a local chaos run works on, started with the integration suite's
// launcher (tests/integration/src/cluster.ts): a ZooKeeper ensemble of 3, two coordinators,
// group g1 (3 replicated stores, each also serving clients: an embedded gateway, plus one
// separate gateway) and group g2 (3 stores, one separate gateway), two bridge processes
// (active/standby) linking g1 and g2, mutual TLS on every gRPC hop and ZooKeeper digest
// ACLs. g1's stores keep their data on small tmpfs mounts of their own so a disk can really
// fill up (or turn read-only). Everything is on 127.0.0.1, under one temp dir; close()
// stops every process by PID, unmounts what it mounted and removes the dir.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, type Bridge } from '@hawser/integration/dist/cluster';
import type { Path } from './workload';

export interface LocalOptions {
  /** Groups: 1 (g1 only, no bridge) or 2 (g1 and g2 with bridges). Default 2. */
  groups?: number;
  /** ZooKeeper servers: 3 (ensemble) or 1. Default 3. */
  zkServers?: number;
  /** Bridge processes (same link: one active, the others standby). Default 2 with two groups. */
  bridges?: number;
  /** Mutual TLS and ZooKeeper ACLs (default true; a chaos run is meant to run with them). */
  secure?: boolean;
  /** tmpfs data dirs for g1's stores (needs root; default: when root). */
  tmpfs?: boolean;
  /** Size of each tmpfs (default 128m). */
  tmpfsSize?: string;
  /** Stores' ZooKeeper session timeout (default 1000 ms). */
  sessionTimeoutMs?: number;
  log?: (msg: string) => void;
}

export class LocalTopology {
  readonly groups: Cluster[] = [];
  readonly bridges: Bridge[] = [];
  readonly mounts: string[] = [];
  private mountBase: string | undefined;

  private constructor(readonly o: Required<Omit<LocalOptions, 'log'>> & Pick<LocalOptions, 'log'>) {}

  static async start(opts: LocalOptions = {}): Promise<LocalTopology> {
    const groups = opts.groups ?? 2;
    const t = new LocalTopology({
      groups, zkServers: opts.zkServers ?? 3, bridges: opts.bridges ?? (groups > 1 ? 2 : 0), secure: opts.secure ?? true,
      tmpfs: opts.tmpfs ?? process.getuid?.() === 0, tmpfsSize: opts.tmpfsSize ?? '128m', sessionTimeoutMs: opts.sessionTimeoutMs ?? 1000, log: opts.log,
    });
    try {
      await t.boot();
    } catch (e) {
      await t.close();
      throw e;
    }
    return t;
  }

  private async boot(): Promise<void> {
    const o = this.o;
    let dataDirOf: ((id: string) => string) | undefined;
    if (o.tmpfs) {
      this.mountBase = mkdtempSync(join(tmpdir(), 'hawser-chaos-disk-'));
      for (const id of ['s1', 's2', 's3']) this.mount(join(this.mountBase, id));
      dataDirOf = (id) => join(this.mountBase!, id);
    }
    const g1 = await Cluster.start({
      name: 'chaos', group: 'g1', secure: o.secure, zkServers: o.zkServers, embeddedGateways: true, dataDirOf,
      sessionTimeoutMs: o.sessionTimeoutMs, storeArgs: ['--journal.diskCheckMs', '200'],
    });
    this.groups.push(g1);
    if (o.groups > 1) {
      this.groups.push(await Cluster.join(g1, { group: 'g2' }));
      for (let i = 0; i < o.bridges; i++) this.bridges.push(await g1.startBridge(['g1', 'g2'], { id: `b${i + 1}` }));
      await this.bridges[0]?.waitState('active', 30_000);
    }
    o.log?.(`topology up: ${this.describe()}`);
  }

  private mount(dir: string): void {
    mkdirSync(dir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${this.o.tmpfsSize},mode=0755`, 'tmpfs', dir]);
    this.mounts.push(dir);
  }

  get base(): Cluster { return this.groups[0]!; }

  /** The client paths of the workload. */
  paths(): Path[] {
    const g1 = this.groups[0]!;
    const out: Path[] = [
      { name: 'g1-gateway', group: 'g1', uris: [g1.gateway.stompUri] },
      { name: 'g1-stores', group: 'g1', uris: g1.stores.map((s) => s.stompUri) },
    ];
    const g2 = this.groups[1];
    if (g2) out.push({ name: 'g2-gateway', group: 'g2', uris: [g2.gateway.stompUri] });
    return out;
  }

  describe(): string {
    const c = this.base;
    return `ZooKeeper ${c.ensemble ? `ensemble of ${c.ensemble.servers.length}` : 'standalone'} (${c.zk.connect}), ${c.coordinators.length} coordinators, `
      + this.groups.map((g) => `${g.opts.group}: ${g.stores.length} stores${g.opts.embeddedGateways ? ' with embedded gateways' : ''} + ${g.gateways.length} gateway(s)`).join(', ')
      + `, ${this.bridges.length} bridge(s), ${this.o.secure ? 'mutual TLS' : 'no TLS'}${this.mounts.length ? `, g1 data on tmpfs ${this.o.tmpfsSize}` : ''}; logs in ${c.h.logDir}`;
  }

  /** Data dir of a g1 store (its tmpfs mount when tmpfs is on). */
  dataDirOf(group: Cluster, id: string): string { return group.dataDirOf(id); }

  /** Waits until every group has a master and caught-up slaves. */
  async waitHealthy(deadlineMs = 60_000): Promise<void> {
    await Promise.all(this.groups.map((g) => g.waitHealthy(5000, deadlineMs)));
  }

  /** Stops everything by PID, unmounts, removes the temp dirs (HAWSER_KEEP_TMP=1 keeps the logs). */
  async close(): Promise<void> {
    await this.base?.close().catch(() => undefined);
    for (const dir of this.mounts.splice(0)) {
      try { execFileSync('umount', [dir], { stdio: 'ignore' }); } catch {
        try { execFileSync('umount', ['-l', dir], { stdio: 'ignore' }); } catch { /* not mounted */ }
      }
    }
    if (this.mountBase) rmSync(this.mountBase, { recursive: true, force: true });
  }

  /** For an exit hook: unmount synchronously whatever is still mounted. */
  unmountNow(): void {
    for (const dir of this.mounts.splice(0)) {
      try { execFileSync('umount', ['-l', dir], { stdio: 'ignore' }); } catch { /* not mounted */ }
    }
  }
}
