// The private deployment a local chaos run works on, started with the integration suite's
// launcher (tests/integration/src/cluster.ts): a ZooKeeper ensemble of 3, two coordinators,
// group g1 (3 replicated stores, each also serving clients: an embedded gateway, plus one
// separate gateway) and group g2 (3 stores with embedded gateways, one separate gateway: its
// clients' failover URI names the gateway first, then the stores), two bridge processes
// (active/standby) linking g1 and g2, mutual TLS on every gRPC hop and ZooKeeper digest
// ACLs. g1's stores keep their data on small ext4 filesystems of their own (a sparse image
// file on a loop device, `errors=remount-ro`) so a disk can really fill up, or turn read-only
// the way ext4 does after an I/O error. Everything is on 127.0.0.1, under one temp dir; close()
// stops every process by PID, unmounts what it mounted and removes the dir.
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, type Bridge, type ClusterNet } from '@hawser/integration/dist/cluster';
import { adminService, grpc, CHANNEL_OPTIONS } from '@hawser/proto';
import { NetLab, NetnsError } from './netns';
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
  /** g1's stores and the bridges in network namespaces of their own, for partitions (default: when root, with 3 ZooKeeper servers). */
  partitions?: boolean;
  log?: (msg: string) => void;
}

/**
 * Writes, syncs and removes a 1 MiB file in `dir`: undefined when it could, else why not.
 * Asynchronous, like every disk step of the faults: the workload's clients share this
 * process's event loop, and a blocking write on a loaded machine would stall them (a
 * synchronous fill showed up as 0.2-2 s without receipts in every group).
 */
export async function probeWrite(dir: string): Promise<string | undefined> {
  const file = join(dir, `.chaos-probe-${process.pid}`);
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(file, 'w');
    const chunk = Buffer.alloc(64 * 1024, 0x5a);
    for (let i = 0; i < 16; i++) await fh.write(chunk);
    await fh.sync();
    return undefined;
  } catch (e) {
    return `probe write failed: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  } finally {
    if (fh) await fh.close().catch(() => undefined);
    await rm(file, { force: true }).catch(() => undefined); // read-only: reported above
  }
}

const execFileAsync = promisify(execFile);

/** Runs a command without blocking the event loop: its exit status, stdout and stderr (never throws). */
export async function runCommand(cmd: string, args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  try {
    const r = await execFileAsync(cmd, args, { encoding: 'utf8' });
    return { status: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: unknown; stdout?: string; stderr?: string; message: string };
    return { status: typeof x.code === 'number' ? x.code : -1, stdout: x.stdout ?? '', stderr: x.stderr || x.message };
  }
}

/** The mount options of every filesystem mounted on `dir`, top last ([] when none). */
export function mountOptions(dir: string): string[] {
  try {
    return execFileSync('findmnt', ['-n', '-o', 'OPTIONS', '--mountpoint', dir], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch { return []; }
}

/**
 * A disk forced read-only made writable again: every mount on `dir` unmounted (with its
 * loop device), fsck until it leaves no error uncorrected, mounted again — and proven
 * writable by writing, syncing and removing a 1 MiB file (it allocates blocks, where a
 * filesystem with errors left in it turns read-only again, as the store's first write did);
 * all of it tried again until it is. Returns what it took, for the fault's note.
 */
export async function remountWritable(dir: string): Promise<string> {
  const tries: string[] = [];
  for (let attempt = 1; ; attempt++) {
    for (let i = 0; i < 5 && mountOptions(dir).length; i++) {
      if ((await runCommand('umount', ['-d', dir])).status !== 0) await new Promise((r) => setTimeout(r, 200));
    }
    while (mountOptions(dir).length) {
      const u = await runCommand('umount', ['-l', '-d', dir]);
      if (u.status !== 0) throw new Error(`umount -l ${dir}: ${u.stderr.trim()}`);
    }
    // Other mount namespaces (every `ip netns exec` makes one, and the root mounts are private
    // here: an unmount does not reach them) may still hold the read-only superblock and its
    // loop device, which `mount -o loop` would reuse. A NEW loop device gives a new superblock,
    // writable (the old one is read-only: it cannot write to the image any more).
    const loop = await runCommand('losetup', ['-f', '--show', `${dir}.img`]);
    if (loop.status !== 0) throw new Error(`losetup ${dir}.img: ${loop.stderr.trim()}`);
    const dev = loop.stdout.trim();
    const codes: number[] = [];
    // e2fsck: 0 clean, 1 corrected, 2 corrected (reboot: n/a for an unmounted image), 4 left
    // uncorrected, 8+ failed. Anything above 2 is checked again: a mount over errors left in
    // place goes read-only at the first write that meets them (errors=remount-ro).
    for (let i = 0; i < 3; i++) {
      const r = await runCommand('e2fsck', ['-f', '-y', dev]);
      codes.push(r.status);
      if (r.status >= 0 && r.status <= 2) break;
    }
    let why: string | undefined;
    const m = await runCommand('mount', ['-o', 'errors=remount-ro', dev, dir]);
    if (m.status === 0) {
      const opts = mountOptions(dir);
      if (opts.length !== 1 || !/^rw,/.test(opts[0]!) || opts[0]!.includes('emergency_ro')) why = `mounts ${JSON.stringify(opts)}`;
      else why = await probeWrite(dir);
    } else {
      why = `mount failed: ${m.stderr.trim()}`;
      await runCommand('losetup', ['-d', dev]); // gone already: nothing to do
    }
    tries.push(`${dev} fsck ${codes.join('/')}${why ? `: ${why}` : ''}`);
    if (!why) return `remounted rw (${tries.join('; ')})`;
    if (attempt >= 5) throw new Error(`${dir} is still not writable after ${attempt} tries: ${tries.join('; ')}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

export class LocalTopology implements System {
  readonly groups: Cluster[] = [];
  readonly bridges: Bridge[] = [];
  readonly mounts: string[] = [];
  private mountBase: string | undefined;
  /** The namespaces (partitions), when they could be made. */
  lab: NetLab | undefined;
  /** Why there are no partitions, when they were asked for and could not be made. */
  netnsError: string | undefined;

  private constructor(readonly o: Required<Omit<LocalOptions, 'log'>> & Pick<LocalOptions, 'log'>) {}

  static async start(opts: LocalOptions = {}): Promise<LocalTopology> {
    const groups = opts.groups ?? 2;
    const t = new LocalTopology({
      groups, zkServers: opts.zkServers ?? 3, bridges: opts.bridges ?? (groups > 1 ? 2 : 0), secure: opts.secure ?? true,
      disks: opts.disks ?? process.getuid?.() === 0, diskMiB: opts.diskMiB ?? 128,
      partitions: opts.partitions ?? (process.getuid?.() === 0 && (opts.zkServers ?? 3) > 1), sessionTimeoutMs: opts.sessionTimeoutMs ?? 1000, log: opts.log,
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
    let net: ClusterNet | undefined;
    if (o.partitions && o.zkServers > 1) {
      const names = ['store-s1', 'store-s2', 'store-s3', ...(o.groups > 1 ? Array.from({ length: o.bridges }, (_, i) => `bridge-b${i + 1}`) : [])];
      try {
        const lab = NetLab.create(names);
        this.lab = lab;
        net = { host: lab.rootHost, zkHost: lab.zkHost, certHosts: ['localhost', '127.0.0.1', ...lab.hosts], place: (n) => lab.place(n) };
      } catch (e) {
        if (!(e instanceof NetnsError)) throw e;
        this.netnsError = e.message;
        o.log?.(`no partitions: ${e.message}`);
      }
    }
    // MQTT on g1's separate gateway and on its stores' embedded gateways (the workload's MQTT actors).
    const g1 = await Cluster.start({
      name: 'chaos', group: 'g1', secure: o.secure, zkServers: o.zkServers, embeddedGateways: true, dataDirOf, net,
      sessionTimeoutMs: o.sessionTimeoutMs, storeArgs: ['--journal.diskCheckMs', '200', '--gateway.mqtt.enabled', 'true', '--gateway.mqtt.port', '0'],
      gatewayArgs: ['--mqtt.enabled', 'true', '--mqtt.port', '0'],
    });
    this.groups.push(g1);
    if (o.groups > 1) {
      this.groups.push(await Cluster.join(g1, { group: 'g2', net, embeddedGateways: true }));
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

  /** The mount options of every filesystem mounted on `dir`, top last ([] when none). */
  mountOptions(dir: string): string[] { return mountOptions(dir); }

  /** See remountWritable() below. */
  remountWritable(dir: string): Promise<string> { return remountWritable(dir); }

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
      { name: 'g1-mqtt', group: 'g1', uris: [`mqtt://127.0.0.1:${g1.gateway.field('mqttPort')}`] },
      { name: 'g1-stores-mqtt', group: 'g1', uris: g1.stores.map((s) => `mqtt://${s.host}:${s.field('mqttPort')}`) },
    ];
    const g2 = this.groups[1];
    // g2's clients use its separate gateway, fail over to its stores' embedded gateways while it
    // is down and go back to it when it returns (an operator's failover URI with priorityBackup):
    // a killed gateway is not an outage of the group, and a client is not left on a store that
    // a later fault pauses (a client on a paused process waits out its heart-beats).
    if (g2) out.push({ name: 'g2-gateway', group: 'g2', uris: [g2.gateway.stompUri, ...g2.stores.map((s) => s.stompUri)], priorityBackup: true });
    return out;
  }

  describe(): string {
    const c = this.base;
    return `ZooKeeper ${c.ensemble ? `ensemble of ${c.ensemble.servers.length}` : 'standalone'} (${c.zk.connect}), ${c.coordinators.length} coordinators, `
      + this.groups.map((g) => `${g.opts.group}: ${g.stores.length} stores${g.opts.embeddedGateways ? ' with embedded gateways' : ''} + ${g.gateways.length} gateway(s)`).join(', ')
      + `, MQTT on g1's gateway and stores, ${this.bridges.length} bridge(s), ${this.o.secure ? 'mutual TLS' : 'no TLS'}${this.mounts.length ? `, g1 data on ${this.o.diskMiB} MiB ext4 disks` : ''}`
      + (this.lab ? `, g1 stores and bridges in network namespaces hc-${this.lab.tag}-* (${this.lab.subnet}.0/24)` : this.netnsError ? `, no partitions (${this.netnsError})` : '')
      + `; logs in ${c.h.logDir}`;
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

  exitHook(): void { this.unmountNow(); this.lab?.destroy(); }

  /** Admin.Destinations of each group's master: where the workload's messages are (depth, in flight, consumers). */
  async destinations(prefix: string): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const g of this.groups) {
      try {
        const m = await g.master(5000);
        const client = new (adminService())(m.address, g.secure ? g.secure.credentials() : grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
        type Call = (req: unknown, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: Error | null, r: { destinations: unknown[] }) => void) => void;
        const call = (client as unknown as { Destinations: Call }).Destinations.bind(client);
        out[g.opts.group] = await new Promise((res, rej) => call({ prefix }, new grpc.Metadata(), { deadline: Date.now() + 3000 }, (e, r) => (e ? rej(e) : res(r.destinations))));
        client.close();
      } catch (e) { out[g.opts.group] = `unavailable: ${(e as Error).message}`; }
    }
    return out;
  }

  /** Confirmed messages missing after the drain: write down where things stand, then restart the bridges. */
  async unstick(h: History, missing: string[]): Promise<void> {
    h.add({ type: 'note', msg: 'stuck', missing, destinations: await this.destinations('') });
    for (const b of this.bridges) await b.restart(30_000).catch(() => undefined);
    h.add({ type: 'note', msg: 'nudged', what: `restarted ${this.bridges.length} bridge(s)` });
  }

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
    await this.lab?.healAll();
    await this.base?.close().catch(() => undefined);
    this.lab?.destroy();
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
