// The nemesis: a fault plan drawn from a seed (pure: planFaults), and the Nemesis that carries
// each planned fault out on a LocalTopology — inject, hold, take back — writing `fault`
// events to the history. Every process it touches is one the topology started (by PID);
// every mount is the topology's.
//
// Kinds:
//   kill-master, kill-slave   kill -9 of a store (a random group), restarted on its data dir
//   kill-coordinator          kill -9 of a coordinator, restarted
//   kill-gateway              kill -9 of a group's separate gateway, restarted
//   kill-bridge               kill -9 of a bridge process (active or standby), restarted
//   kill-zk                   kill -9 of one ZooKeeper server of the ensemble, restarted
//   zk-quorum                 kill -9 of two of the three: no quorum; both restarted
//   pause-short, pause-long   SIGSTOP of a master for less / more than the ZooKeeper session timeout, then SIGCONT
//   disk-full                 a g1 store's disk filled until ENOSPC; freed and restarted once it exited
//   disk-readonly             a g1 store's ext4 forced read-only (trigger_fs_error, as after an I/O
//                             error with errors=remount-ro); once it exited: fsck, mounted again, restarted
//   partition-master          g1's master cut from ZooKeeper and from its slaves (blackhole routes in its
//                             namespace) but still reachable by the gateways, 2-4 s
//   partition-minority        one g1 store (master or slave) isolated (its link down), 2-4 s
//   partition-bridge          a bridge process cut from g1's stores (it still sees ZooKeeper, the coordinators and g2), 2-4 s
//   flapping-link             g1's master's link toggled down/up every 150-500 ms for 3-5 s
import { writeFileSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { serverMode } from '@hawser/zookeeper-launcher';
import type { Cluster } from '@hawser/integration/dist/cluster';
import type { Store } from '@hawser/integration/dist/harness';
import type { History } from './history';
import { probeWrite, type LocalTopology } from './local';
import { Rng } from './rng';

export const FAULT_KINDS = [
  'kill-master', 'kill-slave', 'kill-coordinator', 'kill-gateway', 'kill-bridge', 'kill-zk', 'zk-quorum',
  'pause-short', 'pause-long', 'disk-full', 'disk-readonly',
  'partition-master', 'partition-minority', 'partition-bridge', 'flapping-link',
] as const;
export type FaultKind = typeof FAULT_KINDS[number];

export interface PlannedFault {
  cycle: number;
  kind: FaultKind;
  /** Picks among the candidates at run time (which group, which slave...). */
  pick: number;
  /** How long the fault is held before it is taken back (ms). */
  holdMs: number;
  /** Quiet time under load after the group is healthy again (ms). */
  gapMs: number;
}

/**
 * `cycles` faults: the kinds dealt from a deck reshuffled each time it runs out (every kind
 * comes up as often as the others, in a random order), with random picks and hold times.
 */
export function planFaults(rng: Rng, cycles: number, kinds: readonly FaultKind[]): PlannedFault[] {
  const out: PlannedFault[] = [];
  let deck: FaultKind[] = [];
  for (let cycle = 1; cycle <= cycles; cycle++) {
    if (deck.length === 0) {
      deck = [...kinds];
      for (let i = deck.length - 1; i > 0; i--) { const j = rng.int(0, i); [deck[i], deck[j]] = [deck[j]!, deck[i]!]; }
    }
    const kind = deck.pop()!;
    const holdMs = kind === 'pause-long' ? rng.int(1500, 3000) : kind === 'pause-short' ? rng.int(100, 400)
      : kind === 'zk-quorum' || kind.startsWith('partition-') ? rng.int(2000, 4000) : kind === 'flapping-link' ? rng.int(3000, 5000) : rng.int(0, 1000);
    out.push({ cycle, kind, pick: rng.int(0, 1 << 30), holdMs, gapMs: rng.int(500, 1500) });
  }
  return out;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until<T>(deadlineMs: number, fn: () => Promise<T | undefined> | T | undefined): Promise<T | undefined> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) return undefined;
    await sleep(50);
  }
}

/** The file fillDisk writes in `dir`. */
const fillerOf = (dir: string): string => join(dir, 'chaos-filler');

/**
 * Writes into `dir` until ENOSPC; returns the file written. Asynchronous: the workload's
 * clients share this event loop (a synchronous fill took 0.2-0.5 s on a quiet machine and
 * 1.6 s under CPU starvation, and every group's receipts waited for it).
 */
export async function fillDisk(dir: string): Promise<string> {
  const file = fillerOf(dir);
  const fh = await open(file, 'w');
  try {
    for (const size of [1 << 20, 64 * 1024, 512]) {
      const chunk = Buffer.alloc(size, 0x5a);
      for (;;) { try { await fh.write(chunk); } catch { break; } }
    }
  } finally { await fh.close(); }
  return file;
}

export interface FaultOutcome { target: string; note?: string }

export class Nemesis {
  /** Faults started and not yet taken back (the cleanup takes them back on failure). */
  private readonly undo = new Set<() => Promise<void>>();

  constructor(private readonly topo: LocalTopology, private readonly h: History) {}

  private group(p: PlannedFault): Cluster { return this.topo.groups[p.pick % this.topo.groups.length]!; }
  private name(c: Cluster): string { return c.opts.group; }

  /** Available kinds on this topology (no bridge with one group, no ZooKeeper kills standalone, no disk faults without the disks). */
  available(kinds: readonly FaultKind[]): FaultKind[] {
    return kinds.filter((k) => {
      if (k === 'kill-bridge') return this.topo.bridges.length > 0;
      if (k === 'kill-zk' || k === 'zk-quorum') return (this.topo.base.ensemble?.servers.length ?? 1) >= 3;
      if (k === 'disk-full' || k === 'disk-readonly') return this.topo.mounts.length > 0;
      if (k === 'partition-bridge') return this.topo.lab !== undefined && this.topo.bridges.length > 0;
      if (k.startsWith('partition-') || k === 'flapping-link') return this.topo.lab !== undefined;
      return true;
    });
  }

  /** Carries out one fault: start event, hold, take back, end event. */
  async run(p: PlannedFault): Promise<FaultOutcome> {
    const all = this.topo.groups.map((g) => this.name(g));
    const begin = (target: string, groups: string[], note?: string) => this.h.add({ type: 'fault', phase: 'start', kind: p.kind, cycle: p.cycle, target, groups, ...(note ? { note } : {}) });
    const end = (target: string, groups: string[], note?: string) => this.h.add({ type: 'fault', phase: 'end', kind: p.kind, cycle: p.cycle, target, groups, ...(note ? { note } : {}) });
    switch (p.kind) {
      case 'kill-master':
      case 'kill-slave': {
        const c = this.group(p);
        const master = await c.master(20_000);
        const live = c.stores.filter((s) => s.alive && s !== master);
        const s = p.kind === 'kill-master' ? master : live[p.pick % live.length]!;
        const target = `${s.name}${s === master ? ' (master)' : ' (slave)'}`;
        begin(target, [this.name(c)]);
        await s.kill9();
        await sleep(p.holdMs);
        await s.restart(30_000);
        end(target, [this.name(c)]);
        return { target };
      }
      case 'kill-coordinator': {
        const co = this.topo.base.coordinators[p.pick % this.topo.base.coordinators.length]!;
        begin(co.name, all);
        await co.kill9();
        await sleep(p.holdMs);
        await co.restart(30_000);
        end(co.name, all);
        return { target: co.name };
      }
      case 'kill-gateway': {
        const c = this.group(p);
        const g = c.gateways[p.pick % c.gateways.length]!;
        begin(g.name, [this.name(c)]);
        await g.kill9();
        await sleep(p.holdMs);
        await g.restart(30_000);
        end(g.name, [this.name(c)]);
        return { target: g.name };
      }
      case 'kill-bridge': {
        const b = this.topo.bridges[p.pick % this.topo.bridges.length]!;
        const active = b.count('active') > b.count('standby') ? 'active?' : 'standby?';
        begin(`${b.name} (${active})`, all);
        await b.kill9();
        await sleep(p.holdMs);
        await b.restart(30_000);
        end(b.name, all);
        return { target: b.name };
      }
      case 'kill-zk': {
        const e = this.topo.base.ensemble!;
        const i = p.pick % e.servers.length;
        const target = `zookeeper-${i + 1} (${(await serverMode(e.servers[i]!.port, 1000)) ?? 'not serving'})`;
        begin(target, all);
        await e.kill9Server(i);
        await sleep(p.holdMs);
        await e.startServer(i);
        end(target, all);
        return { target };
      }
      case 'zk-quorum': return this.zkQuorum(p, begin, end, all);
      case 'pause-short':
      case 'pause-long': {
        const c = this.group(p);
        const m = await c.master(20_000);
        const target = `${m.name} (master) ${p.holdMs} ms`;
        begin(target, [this.name(c)]);
        c.pause(m);
        const resume = async () => { c.resume(m); };
        this.undo.add(resume);
        await sleep(p.holdMs);
        c.resume(m);
        this.undo.delete(resume);
        end(target, [this.name(c)]);
        return { target };
      }
      case 'disk-full':
      case 'disk-readonly': return this.disk(p, begin, end);
      case 'partition-master':
      case 'partition-minority':
      case 'partition-bridge':
      case 'flapping-link': return this.partition(p, begin, end, all);
    }
  }

  private async partition(p: PlannedFault, begin: (t: string, g: string[], n?: string) => void, end: (t: string, g: string[], n?: string) => void, all: string[]): Promise<FaultOutcome> {
    const lab = this.topo.lab!;
    const c = this.topo.base;
    const master = await c.master(20_000);
    const storeHosts = c.stores.map((s) => lab.hostOf(s.name));
    let name: string;
    let target: string;
    let groups = ['g1'];
    let apply: () => Promise<void>;
    let flap: Rng | undefined;
    if (p.kind === 'partition-master') {
      name = master.name;
      const peers = [lab.zkHost, ...storeHosts.filter((h) => h !== lab.hostOf(name))];
      target = `${name} (master) cut from ZooKeeper and ${peers.length - 1} slaves, gateways still reach it`;
      apply = () => lab.cut(name, peers);
    } else if (p.kind === 'partition-minority') {
      const live = c.stores.filter((s) => s.alive);
      const s = live[p.pick % live.length]!;
      name = s.name;
      target = `${name} (${s === master ? 'master' : 'slave'}) isolated`;
      apply = () => lab.link(name, false);
    } else if (p.kind === 'partition-bridge') {
      const b = this.topo.bridges[p.pick % this.topo.bridges.length]!;
      name = b.name;
      groups = all;
      target = `${name} cut from g1's stores`;
      apply = () => lab.cut(name, storeHosts);
    } else {
      name = master.name;
      target = `${name} (master) link flapping`;
      flap = new Rng(p.pick);
      apply = () => lab.link(name, false);
    }
    const takeBack = async () => { await lab.heal(name); await lab.link(name, true); };
    this.undo.add(takeBack);
    // The fault starts (the heal is timed from here) once the cut is in place: `ip` runs beside
    // the workload and the clients go on meanwhile.
    await apply();
    begin(target, groups);
    if (flap) {
      const until = Date.now() + p.holdMs;
      let up = false;
      let n = 0;
      while (Date.now() < until) {
        await sleep(flap.int(150, 500));
        up = !up;
        await lab.link(name, up);
        n++;
      }
      target += ` (${n} toggles)`;
    } else {
      await sleep(p.holdMs);
    }
    await takeBack();
    this.undo.delete(takeBack);
    end(target, groups);
    return { target };
  }

  private async zkQuorum(p: PlannedFault, begin: (t: string, g: string[], n?: string) => void, end: (t: string, g: string[], n?: string) => void, all: string[]): Promise<FaultOutcome> {
    const e = this.topo.base.ensemble!;
    const keep = p.pick % e.servers.length;
    const victims = e.servers.map((_, i) => i).filter((i) => i !== keep);
    const target = `zookeeper-${victims.map((i) => i + 1).join('+')} (zookeeper-${keep + 1} left alone)`;
    begin(target, all);
    const t0 = Date.now();
    await Promise.all(victims.map((i) => e.kill9Server(i)));
    // What the survivor says: it stops serving (srvr answers without a Mode) once it sees no quorum.
    const lostAt = await until(5000, async () => ((await serverMode(e.servers[keep]!.port, 500)) === undefined ? Date.now() : undefined));
    const during = await this.topo.base.group(1000).then((g) => `${g.state} master ${g.masterId} epoch ${g.epoch}`, (err: Error) => `topology unavailable: ${err.message}`);
    this.h.add({ type: 'note', msg: 'zookeeper quorum lost', cycle: p.cycle, survivorStoppedServingMs: lostAt ? lostAt - t0 : null, groupDuring: during });
    await sleep(Math.max(0, p.holdMs - (Date.now() - t0)));
    const restartAt = Date.now();
    await Promise.all(victims.map((i) => e.startServer(i)));
    const servingAt = await until(30_000, async () => {
      const modes = await Promise.all(e.servers.map((s) => serverMode(s.port, 500)));
      return modes.every((m) => m === 'leader' || m === 'follower') ? Date.now() : undefined;
    });
    this.h.add({ type: 'note', msg: 'zookeeper quorum back', cycle: p.cycle, ensembleServingMs: servingAt ? servingAt - restartAt : null });
    end(target, all, `survivor stopped serving after ${lostAt ? lostAt - t0 : '?'} ms; group during: ${during}`);
    return { target, note: during };
  }

  private async disk(p: PlannedFault, begin: (t: string, g: string[], n?: string) => void, end: (t: string, g: string[], n?: string) => void): Promise<FaultOutcome> {
    const c = this.topo.base;
    const live = c.stores.filter((s) => s.alive);
    const s: Store = live[p.pick % live.length]!;
    const master = await c.master(20_000).catch(() => undefined);
    const dir = c.dataDirOf(c.idOf(s));
    const target = `${s.name}${s === master ? ' (master)' : ' (slave)'} ${dir}`;
    let filler: string | undefined;
    let readOnly = false;
    let remounted = '';
    const restore = async () => {
      if (filler) await rm(filler, { force: true });
      if (readOnly) {
        // The filesystem stays read-only until unmounted: the store must be gone first.
        if (s.alive) await s.kill9();
        remounted = await this.topo.remountWritable(dir);
        readOnly = false;
      }
    };
    this.undo.add(restore);
    // The fault starts (the heal is timed from here) once it is in effect: the disk full, or
    // turned read-only. The fill takes a while and runs beside the workload (D16).
    if (p.kind === 'disk-full') {
      filler = fillerOf(dir); // known before the fill: a fill cut short is removed too
      await fillDisk(dir);
      begin(target, ['g1']);
    } else {
      const dev = this.topo.deviceOf(dir).replace(/^\/dev\//, '');
      begin(target, ['g1']);
      writeFileSync(`/sys/fs/ext4/${dev}/trigger_fs_error`, '1');
      readOnly = true;
    }
    // The store notices on its next write or disk check (journal.diskCheckMs) and leaves the group.
    const exited = await until(15_000, () => (s.alive ? undefined : true));
    await sleep(p.holdMs);
    await restore();
    this.undo.delete(restore);
    let note = exited ? `exited ${JSON.stringify(s.lastExit)}` : 'still running 15 s later';
    if (remounted) note += `, ${remounted}`;
    if (s.alive) await s.kill9(); // a store that did not leave by itself is restarted anyway (noted)
    // Its disk must take a write before it starts (a store on a disk still read-only exits at its first write).
    const unwritable = await probeWrite(dir);
    if (unwritable) throw new Error(`${dir}: ${unwritable} before restarting ${s.name}`);
    await s.restart(30_000);
    note += ', restarted';
    end(target, ['g1'], note);
    return { target, note };
  }

  /**
   * After a cycle nothing should be down: a process that is (it died by itself, e.g. a crash)
   * is written down with its exit status and started again, so one crash does not turn every
   * later cycle into a wait for a group that cannot be healthy.
   */
  async repair(cycle: number): Promise<string[]> {
    const found: string[] = [];
    for (const svc of this.topo.base.h.all) {
      if (svc.alive) continue;
      const exit = JSON.stringify(svc.lastExit ?? null);
      found.push(`${svc.name} ${exit}`);
      this.h.add({ type: 'note', msg: 'died by itself', cycle, service: svc.name, exit, logFile: svc.logFile });
      await svc.restart(30_000).catch((e: Error) => this.h.add({ type: 'note', msg: 'restart failed', cycle, service: svc.name, error: e.message }));
    }
    const e = this.topo.base.ensemble;
    for (let i = 0; e && i < e.servers.length; i++) {
      if (e.servers[i]!.running) continue;
      found.push(`zookeeper-${i + 1}`);
      this.h.add({ type: 'note', msg: 'died by itself', cycle, service: `zookeeper-${i + 1}` });
      await e.startServer(i).catch((err: Error) => this.h.add({ type: 'note', msg: 'restart failed', cycle, service: `zookeeper-${i + 1}`, error: err.message }));
    }
    return found;
  }

  /** Takes back every fault still in force (SIGCONT, disk freed): for the cleanup path. */
  async takeBackAll(): Promise<void> {
    for (const u of [...this.undo]) { await u().catch(() => undefined); this.undo.delete(u); }
  }
}
