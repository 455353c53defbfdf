// The same workload and checker against Apache ActiveMQ Classic 5.17 in its shared-store
// master/slave setup, for the side-by-side table of docs/reliability.md: two brokers on ONE
// KahaDB directory (whoever holds its file lock is master and opens its STOMP connector; the
// other polls the lock every second), STOMP on two loopback ports, clients with a failover
// URI over both. Started like `hawser activemq start` (tools/cli/src/activemq.ts: the Java
// module flags, log4j 1.2 to a file), but as children of this process, ended by PID.
//
// Faults that mean something for this setup: kill -9 of the master or the slave (restarted),
// SIGSTOP of the master shorter or longer than a second. There is no ZooKeeper, coordinator,
// gateway or bridge, and a full disk is the shared one (both brokers at once).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@hawser/client';
import { freePort } from '@hawser/zookeeper-launcher';
import { ACTIVEMQ_HOME, JAVA_MODULE_FLAGS, log4jProperties } from '@hawser/cli/dist/activemq';
import type { FaultKind, FaultOutcome, PlannedFault } from './faults';
import type { History } from './history';
import { runChaos, type ChaosRunOptions, type FaultInjector, type RunResult, type System } from './run';
import type { Path } from './workload';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export const ACTIVEMQ_KINDS: readonly FaultKind[] = ['kill-master', 'kill-slave', 'pause-short', 'pause-long'];

/** conf/activemq.xml of one broker of the pair: the shared KahaDB, STOMP on 127.0.0.1:port. */
export function sharedStoreXml(name: string, brokerDir: string, kahadb: string, port: number): string {
  return `<beans
  xmlns="http://www.springframework.org/schema/beans"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans.xsd
  http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <!-- Written by hawser-chaos activemq: one broker of a shared-store master/slave pair. -->
  <broker xmlns="http://activemq.apache.org/schema/core" brokerName="${name}" useJmx="false" persistent="true" dataDirectory="${join(brokerDir, 'data')}">
    <persistenceAdapter>
      <kahaDB directory="${kahadb}">
        <locker><shared-file-locker lockAcquireSleepInterval="1000"/></locker>
      </kahaDB>
    </persistenceAdapter>
    <transportConnectors>
      <transportConnector name="stomp" uri="stomp://127.0.0.1:${port}?transport.closeAsync=false"/>
    </transportConnectors>
  </broker>
</beans>
`;
}

const live = new Set<ChildProcess>();
process.on('exit', () => { for (const c of live) { try { c.kill('SIGKILL'); } catch { /* gone */ } } });

/** One broker JVM of the pair. */
class Broker {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  paused = false;

  constructor(readonly name: string, readonly dir: string, readonly port: number) {}

  get uri(): string { return `stomp://127.0.0.1:${this.port}`; }
  get alive(): boolean { return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null; }

  start(): void {
    const conf = join(this.dir, 'conf');
    const fd = openSync(join(this.dir, 'activemq.out'), 'a');
    const child = spawn('java', [
      '-Xms256m', '-Xmx512m', ...JAVA_MODULE_FLAGS,
      `-Dlog4j.configuration=file:${join(conf, 'log4j.properties')}`, `-Dactivemq.home=${ACTIVEMQ_HOME}`,
      `-Dactivemq.base=${this.dir}`, `-Dactivemq.conf=${conf}`, `-Dactivemq.data=${join(this.dir, 'data')}`,
      '-jar', join(ACTIVEMQ_HOME, 'bin', 'activemq.jar'), 'start', `xbean:file:${join(conf, 'activemq.xml')}`,
    ], { cwd: this.dir, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    child.once('error', () => undefined);
    this.child = child;
    live.add(child);
    this.exited = new Promise((r) => child.once('exit', () => { live.delete(child); r(); }));
  }

  /** Whether its STOMP connector answers (only the master opens it). */
  async serving(): Promise<boolean> {
    if (!this.alive || this.paused) return false;
    try {
      const c = await connect(this.uri, { connectTimeoutMs: 1000 });
      await c.disconnect({ timeoutMs: 1000 }).catch(() => c.destroy());
      return true;
    } catch { return false; }
  }

  async kill9(): Promise<void> {
    if (this.paused) this.resume();
    if (this.alive) this.child!.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    if (this.paused) this.resume();
    if (!this.alive) return;
    this.child!.kill('SIGTERM');
    const t = setTimeout(() => { if (this.alive) this.child!.kill('SIGKILL'); }, 10_000);
    await this.exited;
    clearTimeout(t);
  }

  pause(): void { if (this.alive) { this.child!.kill('SIGSTOP'); this.paused = true; } }
  resume(): void { if (this.paused) { this.paused = false; if (this.alive) this.child!.kill('SIGCONT'); } }
}

/** Two brokers on one KahaDB directory. */
export class ActiveMqPair implements System {
  readonly brokers: Broker[] = [];
  private constructor(readonly root: string) {}

  static async start(log: (m: string) => void = () => undefined): Promise<ActiveMqPair> {
    const pair = new ActiveMqPair(mkdtempSync(join(tmpdir(), 'hawser-chaos-activemq-')));
    try {
      const kahadb = join(pair.root, 'shared-kahadb');
      mkdirSync(kahadb, { recursive: true });
      for (const name of ['amq-a', 'amq-b']) {
        const dir = join(pair.root, name);
        const port = await freePort();
        mkdirSync(join(dir, 'conf'), { recursive: true });
        mkdirSync(join(dir, 'data'), { recursive: true });
        writeFileSync(join(dir, 'conf', 'activemq.xml'), sharedStoreXml(name, dir, kahadb, port));
        writeFileSync(join(dir, 'conf', 'log4j.properties'), log4jProperties(dir));
        pair.brokers.push(new Broker(name, dir, port));
      }
      pair.brokers[0]!.start();
      await pair.master(90_000); // the first takes the lock
      pair.brokers[1]!.start(); // the second waits for it
      log(`ActiveMQ pair up: ${pair.describe()}`);
    } catch (e) {
      await pair.close();
      throw e;
    }
    return pair;
  }

  /** The broker whose STOMP connector answers (waits up to deadlineMs). */
  async master(deadlineMs = 30_000): Promise<Broker> {
    const end = Date.now() + deadlineMs;
    for (;;) {
      for (const b of this.brokers) if (await b.serving()) return b;
      if (Date.now() > end) throw new Error(`no ActiveMQ broker serves STOMP after ${deadlineMs} ms (see ${this.root}/*/activemq.log)`);
      await sleep(200);
    }
  }

  paths(): Path[] {
    const uris = this.brokers.map((b) => b.uri);
    return [{ name: 'g1-gateway', group: 'g1', uris }, { name: 'g1-stores', group: 'g1', uris }];
  }

  describe(): string {
    return `ActiveMQ 5.17 shared-store master/slave: ${this.brokers.map((b) => `${b.name} (STOMP ${b.port})`).join(', ')} on one KahaDB (lock polled every 1 s), clients with failover over both; ${this.root}`;
  }

  dirs(): Record<string, string> { return { root: this.root }; }

  async waitHealthy(deadlineMs: number): Promise<void> {
    await this.master(deadlineMs);
    for (const b of this.brokers) if (!b.alive) throw new Error(`${b.name} is not running`);
  }

  watch(h: History): () => void {
    let stopped = false;
    let last = '';
    void (async () => {
      while (!stopped) {
        const serving = (await Promise.all(this.brokers.map(async (b) => ((await b.serving()) ? b.name : '')))).filter(Boolean).join(',') || 'none';
        if (serving !== last) { last = serving; h.add({ type: 'note', msg: 'group', group: 'g1', state: `master ${serving}` }); }
        await sleep(250);
      }
    })();
    return () => { stopped = true; };
  }

  async close(): Promise<void> {
    await Promise.all(this.brokers.map((b) => b.stop()));
    if (process.env.HAWSER_KEEP_TMP !== '1') rmSync(this.root, { recursive: true, force: true });
  }

  exitHook(): void { for (const c of live) { try { c.kill('SIGKILL'); } catch { /* gone */ } } }
}

/** kill -9 and SIGSTOP of the pair's brokers. */
export class ActiveMqNemesis implements FaultInjector {
  constructor(private readonly pair: ActiveMqPair, private readonly h: History) {}

  available(kinds: readonly FaultKind[]): FaultKind[] { return kinds.filter((k) => ACTIVEMQ_KINDS.includes(k)); }

  async run(p: PlannedFault): Promise<FaultOutcome> {
    const master = await this.pair.master(60_000);
    const other = this.pair.brokers.find((b) => b !== master)!;
    const b = p.kind === 'kill-slave' ? other : master;
    const target = `${b.name} (${b === master ? 'master' : 'slave'})${p.kind.startsWith('pause') ? ` ${p.holdMs} ms` : ''}`;
    this.h.add({ type: 'fault', phase: 'start', kind: p.kind, cycle: p.cycle, target, groups: ['g1'] });
    if (p.kind === 'pause-short' || p.kind === 'pause-long') {
      b.pause();
      await sleep(p.holdMs);
      b.resume();
    } else {
      await b.kill9();
      await sleep(p.holdMs);
      b.start();
    }
    this.h.add({ type: 'fault', phase: 'end', kind: p.kind, cycle: p.cycle, target, groups: ['g1'] });
    return { target };
  }

  async repair(cycle: number): Promise<string[]> {
    const found: string[] = [];
    for (const b of this.pair.brokers) {
      if (b.alive) continue;
      found.push(b.name);
      this.h.add({ type: 'note', msg: 'died by itself', cycle, service: b.name });
      b.start();
    }
    return found;
  }

  async takeBackAll(): Promise<void> { for (const b of this.pair.brokers) b.resume(); }
}

/** The chaos run against the ActiveMQ pair. */
export function runActiveMq(o: ChaosRunOptions): Promise<RunResult> {
  return runChaos({ ...o, kinds: o.kinds ?? ACTIVEMQ_KINDS }, async (h, log) => {
    const pair = await ActiveMqPair.start(log);
    return { system: pair, nemesis: new ActiveMqNemesis(pair, h) };
  });
}
