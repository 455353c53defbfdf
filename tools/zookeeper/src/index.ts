// Starts private ZooKeeper servers (Debian's package `zookeeper`, 3.8) on free loopback
// ports, for tests and the local cluster: one standalone server, or an ensemble of N.
// Each server is a child `java ... QuorumPeerMain zoo.cfg` process, cleaned up by PID
// (SIGTERM, then SIGKILL after a grace period). It is up when the four-letter word `ruok`
// answers `imok`; an ensemble member is up when `srvr` shows a Mode (leader/follower).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { freePort } from './ports';
import { join, resolve } from 'node:path';

export const ZOOKEEPER_JARS = '/usr/share/java';
export const ZOOKEEPER_CONF = '/etc/zookeeper/conf';
const MAIN_CLASS = 'org.apache.zookeeper.server.quorum.QuorumPeerMain';

/** Java or the zookeeper package is missing, or a server did not come up in time. */
export class ZooKeeperLaunchError extends Error {
  constructor(message: string, readonly code: 'ZK_NOT_INSTALLED' | 'ZK_START_TIMEOUT' | 'ZK_EXITED', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ZooKeeperLaunchError';
  }
}

export interface ZooKeeperOptions {
  dataDir: string;
  /** client port; default: a free loopback port */
  port?: number;
  /** ZooKeeper tickTime in ms (default 2000); the smallest session timeout granted is 2 x tickTime */
  tickTime?: number;
  minSessionTimeout?: number;
  maxSessionTimeout?: number;
  /** how long to wait for `imok` (default 30 s) */
  startTimeoutMs?: number;
}

export interface ZooKeeperServer {
  port: number;
  /** connect string "127.0.0.1:<port>" */
  connect: string;
  pid: number;
  dataDir: string;
  logFile: string;
  /** SIGTERM, then SIGKILL after 5 s; resolves when the process has exited */
  stop(): Promise<void>;
  /** SIGKILL at once; resolves when the process has exited */
  kill9(): Promise<void>;
  /** resolves when the process exits (for whatever reason) */
  exited: Promise<void>;
}

export { freePort, releasePort } from './ports';

/** Sends a four-letter word (ruok, srvr, stat, mntr...) and returns the whole answer. */
export function fourLetterWord(port: number, word: string, timeoutMs = 2000, host = '127.0.0.1'): Promise<string> {
  return new Promise((res, rej) => {
    const chunks: Buffer[] = [];
    const sock = netConnect({ host, port });
    const timer = setTimeout(() => { sock.destroy(); rej(new Error(`${word}: no answer from ${host}:${port} in ${timeoutMs} ms`)); }, timeoutMs);
    sock.on('connect', () => sock.write(word));
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', (e) => { clearTimeout(timer); rej(e); });
    sock.on('close', () => { clearTimeout(timer); res(Buffer.concat(chunks).toString('utf8')); });
  });
}

/** The `Mode:` line of `srvr` (leader | follower | standalone), or undefined while not serving. */
export async function serverMode(port: number, timeoutMs = 2000): Promise<string | undefined> {
  try {
    const out = await fourLetterWord(port, 'srvr', timeoutMs);
    const m = /^Mode:\s*(\S+)/m.exec(out);
    return m ? m[1] : undefined;
  } catch {
    return undefined;
  }
}

/** Throws a ZooKeeperLaunchError saying what to install when Java or the server jars are missing. */
export function checkInstalled(): void {
  if (!existsSync(join(ZOOKEEPER_JARS, 'zookeeper.jar'))) {
    throw new ZooKeeperLaunchError(
      `ZooKeeper server jars not found in ${ZOOKEEPER_JARS} (Debian package "zookeeper"): install it with apt-get install zookeeper`,
      'ZK_NOT_INSTALLED');
  }
  const path = (process.env.PATH ?? '').split(':');
  if (!path.some((d) => d && existsSync(join(d, 'java')))) {
    throw new ZooKeeperLaunchError(
      'java not found on PATH (ZooKeeper needs a JRE): install it with apt-get install zookeeper (which pulls in a JRE) or apt-get install default-jre-headless',
      'ZK_NOT_INSTALLED');
  }
}

// Every child still running when this process exits is killed, so a crashed test never
// leaves a ZooKeeper behind.
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => { for (const c of live) { try { c.kill('SIGKILL'); } catch { /* already gone */ } } });
  }
}

function sleep(ms: number): Promise<void> { return new Promise((r) => setTimeout(r, ms)); }

interface Spawned { child: ChildProcess; exited: Promise<void>; logFile: string; stop(): Promise<void>; kill9(): Promise<void> }

function spawnServer(cfgFile: string, dataDir: string): Spawned {
  checkInstalled();
  const logFile = join(dataDir, 'zookeeper.log');
  const fd = openSync(logFile, 'a');
  const child = spawn('java', [
    '-Xms32m', '-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1',
    `-Dzookeeper.log.dir=${dataDir}`, '-Dzookeeper.root.logger=INFO,CONSOLE',
    '-cp', `${ZOOKEEPER_JARS}/*:${ZOOKEEPER_CONF}`, MAIN_CLASS, cfgFile,
  ], { stdio: ['ignore', fd, fd], detached: false });
  closeSync(fd);
  track(child);
  const exited = new Promise<void>((res) => {
    if (child.exitCode !== null || child.signalCode !== null) res();
    else child.once('exit', () => res());
  });
  child.once('error', () => { /* reported through `exited` and the start deadline */ });
  const kill9 = async () => {
    if (child.exitCode === null && child.signalCode === null) { try { child.kill('SIGKILL'); } catch { /* gone */ } }
    await exited;
  };
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    try { child.kill('SIGTERM'); } catch { /* gone */ }
    const t = setTimeout(() => { try { child.kill('SIGKILL'); } catch { /* gone */ } }, 5000);
    await exited;
    clearTimeout(t);
  };
  return { child, exited, logFile, stop, kill9 };
}

async function waitUp(s: Spawned, port: number, timeoutMs: number, needMode: boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (s.child.exitCode !== null || s.child.signalCode !== null) {
      throw new ZooKeeperLaunchError(`ZooKeeper on port ${port} exited during start (code ${s.child.exitCode}, signal ${s.child.signalCode}); see ${s.logFile}`, 'ZK_EXITED');
    }
    try {
      if (needMode) {
        if (await serverMode(port, 1000)) return;
      } else if ((await fourLetterWord(port, 'ruok', 1000)) === 'imok') {
        return;
      }
    } catch { /* not listening yet */ }
    await sleep(100);
  }
  throw new ZooKeeperLaunchError(`ZooKeeper on port ${port} did not answer in ${timeoutMs} ms; see ${s.logFile}`, 'ZK_START_TIMEOUT');
}

function baseCfg(o: { dataDir: string; port: number; tickTime: number; minSessionTimeout?: number; maxSessionTimeout?: number; clientPortAddress?: string }): string[] {
  const lines = [
    `tickTime=${o.tickTime}`,
    `dataDir=${o.dataDir}`,
    `clientPort=${o.port}`,
    `clientPortAddress=${o.clientPortAddress ?? '127.0.0.1'}`,
    'admin.enableServer=false',
    '4lw.commands.whitelist=*',
    'initLimit=10',
    'syncLimit=5',
    'autopurge.purgeInterval=0',
  ];
  if (o.minSessionTimeout) lines.push(`minSessionTimeout=${o.minSessionTimeout}`);
  if (o.maxSessionTimeout) lines.push(`maxSessionTimeout=${o.maxSessionTimeout}`);
  return lines;
}

/** Starts one standalone server and resolves once it answers `imok`. */
export async function startZooKeeper(opts: ZooKeeperOptions): Promise<ZooKeeperServer> {
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const port = opts.port ?? (await freePort());
  const cfgFile = join(dataDir, 'zoo.cfg');
  writeFileSync(cfgFile, baseCfg({ dataDir, port, tickTime: opts.tickTime ?? 2000, minSessionTimeout: opts.minSessionTimeout, maxSessionTimeout: opts.maxSessionTimeout }).join('\n') + '\n');
  const s = spawnServer(cfgFile, dataDir);
  try {
    await waitUp(s, port, opts.startTimeoutMs ?? 30_000, false);
  } catch (e) {
    await s.kill9();
    throw e;
  }
  return {
    port, connect: `127.0.0.1:${port}`, pid: s.child.pid ?? 0, dataDir, logFile: s.logFile,
    stop: s.stop, kill9: s.kill9, exited: s.exited,
  };
}

export interface EnsembleOptions {
  size: number;
  /** each server gets <baseDir>/zk<N> */
  baseDir: string;
  tickTime?: number;
  minSessionTimeout?: number;
  maxSessionTimeout?: number;
  startTimeoutMs?: number;
  /** Address the client ports listen on (default 127.0.0.1; 0.0.0.0 for clients in network namespaces, tools/chaos). */
  clientPortAddress?: string;
}

export interface EnsembleServer {
  /** myid, 1-based */
  id: number;
  port: number;
  connect: string;
  dataDir: string;
  logFile: string;
  /** current PID, 0 while stopped */
  pid: number;
  running: boolean;
}

export interface Ensemble {
  /** "127.0.0.1:p1,127.0.0.1:p2,..." */
  connect: string;
  servers: EnsembleServer[];
  /** index into servers (0-based); SIGTERM then SIGKILL */
  stopServer(i: number): Promise<void>;
  kill9Server(i: number): Promise<void>;
  /** restarts a stopped server with the same config and data; waits until it serves */
  startServer(i: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts `size` servers forming one ensemble; resolves when each shows a Mode (leader/follower). */
export async function startEnsemble(opts: EnsembleOptions): Promise<Ensemble> {
  const size = opts.size;
  if (size < 1) throw new RangeError('ensemble size must be >= 1');
  const tickTime = opts.tickTime ?? 2000;
  const timeoutMs = opts.startTimeoutMs ?? 60_000;
  const ports: Array<{ client: number; peer: number; election: number }> = [];
  const taken = new Set<number>();
  const uniqueFree = async () => { for (;;) { const p = await freePort(); if (!taken.has(p)) { taken.add(p); return p; } } };
  for (let i = 0; i < size; i++) ports.push({ client: await uniqueFree(), peer: await uniqueFree(), election: await uniqueFree() });
  const serverLines = ports.map((p, i) => `server.${i + 1}=127.0.0.1:${p.peer}:${p.election}`);
  const servers: EnsembleServer[] = [];
  const procs: Array<Spawned | undefined> = [];
  const cfgFiles: string[] = [];
  for (let i = 0; i < size; i++) {
    const dataDir = resolve(opts.baseDir, `zk${i + 1}`);
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, 'myid'), `${i + 1}\n`);
    const cfgFile = join(dataDir, 'zoo.cfg');
    writeFileSync(cfgFile, [...baseCfg({ dataDir, port: ports[i].client, tickTime, minSessionTimeout: opts.minSessionTimeout, maxSessionTimeout: opts.maxSessionTimeout, clientPortAddress: opts.clientPortAddress }), ...serverLines].join('\n') + '\n');
    cfgFiles.push(cfgFile);
    servers.push({ id: i + 1, port: ports[i].client, connect: `127.0.0.1:${ports[i].client}`, dataDir, logFile: join(dataDir, 'zookeeper.log'), pid: 0, running: false });
    procs.push(undefined);
  }
  const launch = (i: number) => {
    const s = spawnServer(cfgFiles[i], servers[i].dataDir);
    procs[i] = s;
    servers[i].pid = s.child.pid ?? 0;
    servers[i].running = true;
    s.exited.then(() => { if (procs[i] === s) { servers[i].running = false; servers[i].pid = 0; } });
    return s;
  };
  const stopAll = async () => { await Promise.all(procs.map((p) => p?.stop())); };
  try {
    const started = servers.map((_, i) => launch(i));
    await Promise.all(started.map((s, i) => waitUp(s, servers[i].port, timeoutMs, true)));
  } catch (e) {
    await Promise.all(procs.map((p) => p?.kill9()));
    throw e;
  }
  return {
    connect: servers.map((s) => s.connect).join(','),
    servers,
    async stopServer(i) { await procs[i]?.stop(); },
    async kill9Server(i) { await procs[i]?.kill9(); },
    async startServer(i) {
      if (servers[i].running) return;
      const s = launch(i);
      try { await waitUp(s, servers[i].port, timeoutMs, true); } catch (e) { await s.kill9(); throw e; }
    },
    stop: stopAll,
  };
}
