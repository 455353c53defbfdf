// The private deployment a local chaos run works on, started with the integration suite's
// launcher (tests/integration/src/cluster.ts): a ZooKeeper ensemble of 3, two coordinators,
// group g1 (3 replicated stores, each also serving clients: an embedded gateway, plus one
// separate gateway) and group g2 (3 stores, one separate gateway), two bridge processes
// (active/standby) linking g1 and g2, mutual TLS on every gRPC hop and ZooKeeper digest
// ACLs. g1's stores keep their data on small ext4 filesystems of their own (a sparse image
// file on a loop device, `errors=remount-ro`) so a disk can really fill up, or turn read-only
// the way ext4 does after an I/O error. Everything is on 127.0.0.1, under one temp dir; close()
// stops every process by PID, unmounts what it mounted and removes the dir.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, type Bridge } from '@hawser/integration/dist/cluster';
import type { History } from './history';
import type { Path } from './workload';
import type { System } from './run';

export interface LocalOptions {
  /** Groups: 1 (g1 only, no bridge) or 2 (g1 and g2 with bridges). Default 2. */
  groups?: number;
  /** ZooKeeper servers: 3 (ensemble) or 1. Default 3. */
  zkServers?: number;
  /** Bridge processes (same link: one active, the others standby). Default 2 with two groups. */
  bridges?: number;
  /** Mutual TLS and ZooKeeper ACLs (default true; a chaos run is meant to run with them). */
  secure?: boolean;
  /** ext4-on-loop data dirs for g1's stores (needs root; default: when root). */
  disks?: boolean;
  /** Size of each disk in MiB (default 128). */
  diskMiB?: number;
  /** Stores' ZooKeeper session timeout (default 1000 ms). */
  sessionTimeoutMs?: number;
  log?: (msg: string) => void;
}

export class LocalTopology implements System {
  readonly groups: Cluster[] = [];
  readonly bridges: Bridge[] = [];
  readonly mounts: string[] = [];
  private mountBase: string | undefined;

  private constructor(readonly o: Required<Omit<LocalOptions, 'log'>> & Pick<LocalOptions, 'log'>) {}

  static async start(opts: LocalOptions = {}): Promise<LocalTopology> {
    const groups = opts.groups ?? 2;
    const t = new LocalTopology({
      groups, zkServers: opts.zkServers ?? 3, bridges: opts.bridges ?? (groups > 1 ? 2 : 0), secure: opts.secure ?? true,
      disks: opts.disks ?? process.getuid?.() === 0, diskMiB: opts.diskMiB ?? 128, sessionTimeoutMs: opts.sessionTimeoutMs ?? 1000, log: opts.log,
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
    if (o.disks) {
      this.mountBase = mkdtempSync(join(tmpdir(), 'hawser-chaos-disk-'));
      for (const id of ['s1', 's2', 's3']) this.mount(id);
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

  /** A fresh ext4 image for store `id`, mounted on <mountBase>/<id> (mount -o loop: the loop device goes with the umount). */
  private mount(id: string): void {
    const dir = join(this.mountBase!, id);
    const image = join(this.mountBase!, `${id}.img`);
    mkdirSync(dir, { recursive: true });
    execFileSync('truncate', ['-s', `${this.o.diskMiB}M`, image]);
    execFileSync('mkfs.ext4', ['-q', '-F', '-E', 'nodiscard', image]);
    this.mountImage(dir);
    this.mounts.push(dir);
  }

  /** (Re)mounts the image of `dir` read-write (after an fsck when it had been forced read-only). */
  mountImage(dir: string, fsck = false): void {
    const image = `${dir}.img`;
    if (fsck) { try { execFileSync('e2fsck', ['-f', '-y', image], { stdio: 'ignore' }); } catch { /* exit 1 = errors corrected */ } }
    execFileSync('mount', ['-o', 'loop,errors=remount-ro', image, dir]);
  }

  /** The loop device a mounted data dir is on (e.g. /dev/loop3). */
  deviceOf(dir: string): string {
    return execFileSync('findmnt', ['-n', '-o', 'SOURCE', '--mountpoint', dir], { encoding: 'utf8' }).trim();
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
      + `, ${this.bridges.length} bridge(s), ${this.o.secure ? 'mutual TLS' : 'no TLS'}${this.mounts.length ? `, g1 data on ${this.o.diskMiB} MiB ext4 disks` : ''}; logs in ${c.h.logDir}`;
  }

  /** Records every change of a group's state, master or epoch as the coordinators see it (`note` events). */
  watch(h: History): () => void {
    const last = new Map<string, string>();
    let stopped = false;
    void (async () => {
      while (!stopped) {
        for (const g of this.groups) {
          const name = g.opts.group;
          const seen = await g.group(500).then((x) => `${x.state} master ${x.masterId || '-'} epoch ${x.epoch}`, () => 'topology unavailable');
          if (last.get(name) !== seen) {
            last.set(name, seen);
            h.add({ type: 'note', msg: 'group', group: name, state: seen });
          }
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    return () => { stopped = true; };
  }

  exitHook(): void { this.unmountNow(); }

  /** The temp dirs this topology made (all removed by close()). */
  dirs(): { root: string; disks?: string } {
    return { root: this.base.h.root, ...(this.mountBase ? { disks: this.mountBase } : {}) };
  }

  /** Waits until every group has a master and caught-up slaves. */
  async waitHealthy(deadlineMs = 60_000): Promise<void> {
    await Promise.all(this.groups.map((g) => g.waitHealthy(5000, deadlineMs)));
  }

  /** Stops everything by PID, unmounts, removes the temp dirs (HAWSER_KEEP_TMP=1 keeps the logs). */
  async close(): Promise<void> {
    await this.base?.close().catch(() => undefined);
    for (const dir of this.mounts.splice(0)) {
      try { execFileSync('umount', ['-d', dir], { stdio: 'ignore' }); } catch {
        try { execFileSync('umount', ['-l', '-d', dir], { stdio: 'ignore' }); } catch { /* not mounted */ }
      }
    }
    if (this.mountBase) rmSync(this.mountBase, { recursive: true, force: true });
  }

  /** For an exit hook: unmount synchronously whatever is still mounted. */
  unmountNow(): void {
    for (const dir of this.mounts.splice(0)) {
      try { execFileSync('umount', ['-l', '-d', dir], { stdio: 'ignore' }); } catch { /* not mounted */ }
    }
  }
}
