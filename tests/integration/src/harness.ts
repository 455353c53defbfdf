// The launcher of the integration suite: starts the built services (apps/*/dist/main.js)
// as real processes on free ports with temp data dirs, waits for their "ready" log line
// with a deadline, captures their output to files (printed when a test fails), stops them
// by PID (SIGTERM, then SIGKILL), crashes them (kill -9), restarts them on the same data
// dir and ports, and removes the temp dirs. Plus `checkFor`, nats-server's polling helper.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync, statSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '@hawser/zookeeper-launcher';

/** The repository root (this file runs from tests/integration/dist). */
export const ROOT = resolve(__dirname, '../../..');

export class HarnessError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HarnessError';
    this.code = code;
  }
}

/** Thrown inside a checkFor() callback: stop polling now, the condition can never hold. */
export class AbortCheck extends HarnessError {
  constructor(message: string) {
    super('ABORTED', message);
    this.name = 'AbortCheck';
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Calls `fn` every `intervalMs` until it returns without throwing, and returns its value;
 * after `deadlineMs` rethrows the last error (nats-server's checkFor). An AbortCheck
 * thrown by `fn` ends the polling at once.
 */
export async function checkFor<T>(deadlineMs: number, intervalMs: number, fn: () => T | Promise<T>): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  let last: unknown;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof AbortCheck) throw err;
      last = err;
    }
    if (Date.now() >= deadline) {
      const msg = last instanceof Error ? last.message : String(last);
      throw new HarnessError('CHECK_TIMEOUT', `checkFor: still failing after ${deadlineMs} ms: ${msg}`, { cause: last });
    }
    await sleep(intervalMs);
  }
}

/**
 * A loopback port reserved for this test process, outside the kernel's ephemeral range (see
 * tools/zookeeper/src/ports.ts for why `listen(0)` is not enough for a port bound later).
 */
export { freePort } from '@hawser/zookeeper-launcher';

export interface ServiceSpec {
  name: string;
  /** Path of the script, relative to the repository root. */
  script: string;
  args: string[];
  /** The `msg` of the JSON log line that says the service is ready. */
  readyMsg: string;
  /**
   * flag -> field of the ready line holding the port it bound; restart() reuses those ports.
   * A port flag given as '0' gets a reserved port from `freePort` at the first start.
   */
  portFlags?: Record<string, string>;
  env?: Record<string, string>;
  /**
   * A command that runs node for it, e.g. ['ip', 'netns', 'exec', 'ns1'] (tools/chaos puts
   * services in network namespaces). It must exec node in place, so the PID stays node's.
   */
  wrap?: string[];
  /** The address other processes reach it at (default 127.0.0.1). */
  host?: string;
}

export interface ExitStatus { code: number | null; signal: NodeJS.Signals | null }

// Safety net: if the test process dies without running its after() hooks, take our
// children with it (synchronously, by PID).
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) { try { c.kill('SIGKILL'); } catch { /* gone */ } }
});

/** One service process (it may be started, stopped and restarted several times). */
export class ServiceProcess {
  readonly spec: ServiceSpec;
  readonly logFile: string;
  private child: ChildProcess | undefined;
  private exited: Promise<ExitStatus> | undefined;
  private exitStatus: ExitStatus | undefined;
  /** Fields of the last ready line (ports etc.). */
  ready: Record<string, unknown> = {};
  starts = 0;

  constructor(spec: ServiceSpec, logDir: string) {
    this.spec = spec;
    this.logFile = join(logDir, `${spec.name}.log`);
  }

  get name(): string { return this.spec.name; }
  get pid(): number | undefined { return this.child?.pid; }
  get alive(): boolean { return this.child !== undefined && this.exitStatus === undefined; }
  get lastExit(): ExitStatus | undefined { return this.exitStatus; }

  field<T = number>(name: string): T {
    const v = this.ready[name];
    if (v === undefined) throw new HarnessError('NO_FIELD', `${this.name}: ready line has no '${name}' (fields: ${Object.keys(this.ready).join(', ')})`);
    return v as T;
  }

  /** Spawns the process and waits for its ready line. */
  async start(deadlineMs = 20_000, args = this.spec.args): Promise<this> {
    if (this.alive) throw new HarnessError('ALREADY_RUNNING', `${this.name} is already running (pid ${this.pid})`);
    args = await this.reservePorts(args);
    const script = join(ROOT, this.spec.script);
    if (!existsSync(script)) throw new HarnessError('NOT_BUILT', `${script} does not exist: build it first (npx tsc -b ${this.spec.script.split('/dist/')[0]})`);
    const offset = existsSync(this.logFile) ? statSync(this.logFile).size : 0;
    const fd = openSync(this.logFile, 'a');
    // HAWSER_CPU_PROF_DIR=dir: every service writes a V8 CPU profile there when it stops
    // (benchmarks: `HAWSER_CPU_PROF_DIR=/tmp/prof node tools/bench/dist/compare.js ...`).
    const prof = process.env.HAWSER_CPU_PROF_DIR ? ['--cpu-prof', '--cpu-prof-dir', process.env.HAWSER_CPU_PROF_DIR, '--cpu-prof-name', `${this.name}.${this.starts + 1}.cpuprofile`] : [];
    // HAWSER_NODE_ARGS='--flag ...': extra Node/V8 flags for every service (benchmarks' A/B of runtime flags).
    const nodeArgs = (process.env.HAWSER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
    const wrap = this.spec.wrap ?? [];
    const child = spawn(wrap[0] ?? process.execPath, [...wrap.slice(1), ...(wrap.length ? [process.execPath] : []), ...nodeArgs, ...prof, script, ...args], {
      cwd: ROOT,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, HAWSER_LOG_LEVEL: process.env.HAWSER_LOG_LEVEL ?? 'info', ...this.spec.env },
    });
    closeSync(fd);
    this.child = child;
    this.exitStatus = undefined;
    this.starts++;
    live.add(child);
    this.exited = new Promise((res) => {
      child.once('exit', (code, signal) => {
        this.exitStatus = { code, signal };
        live.delete(child);
        res(this.exitStatus);
      });
    });
    child.once('error', () => { /* reported through exit / the ready deadline */ });
    try {
      this.ready = await checkFor(deadlineMs, 50, () => {
        const line = this.findLine(offset, this.spec.readyMsg);
        if (line) return line;
        if (this.exitStatus) {
          throw new AbortCheck(`${this.name} exited before ready (code ${this.exitStatus.code}, signal ${this.exitStatus.signal})`);
        }
        throw new HarnessError('NOT_READY', `${this.name} has not logged "${this.spec.readyMsg}"`);
      });
    } catch (err) {
      await this.kill9().catch(() => undefined);
      throw new HarnessError('START_FAILED', `${this.name} did not start: ${(err as Error).message}\n--- ${this.logFile} (tail) ---\n${this.tail(30)}`, { cause: err });
    }
    return this;
  }

  /** JSON log lines written since byte `offset` whose msg is `msg`. */
  private findLine(offset: number, msg: string): Record<string, unknown> | undefined {
    let text: string;
    try { text = readFileSync(this.logFile).subarray(offset).toString('utf8'); } catch { return undefined; }
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const obj = JSON.parse(line) as Record<string, unknown>;
        if (obj.msg === msg) return obj;
      } catch { /* partial line */ }
    }
    return undefined;
  }

  /** Lines of the log that match `re` (for asserting on what a service logged). */
  logLines(re: RegExp): string[] {
    try { return readFileSync(this.logFile, 'utf8').split('\n').filter((l) => re.test(l)); } catch { return []; }
  }

  /** SIGTERM, then SIGKILL after `deadlineMs`. Resolves with the exit status. */
  async stop(deadlineMs = 10_000): Promise<ExitStatus | undefined> {
    const child = this.child;
    if (!child || !this.exited) return undefined;
    if (this.exitStatus) return this.exitStatus;
    child.kill('SIGTERM');
    const timer = setTimeout(() => { if (!this.exitStatus) child.kill('SIGKILL'); }, deadlineMs);
    const status = await this.exited;
    clearTimeout(timer);
    return status;
  }

  /** kill -9: the crash a power cut or OOM-killer gives. */
  async kill9(): Promise<ExitStatus | undefined> {
    const child = this.child;
    if (!child || !this.exited) return undefined;
    if (!this.exitStatus) child.kill('SIGKILL');
    return this.exited;
  }

  /**
   * Port flags given as '0' become reserved ports, so a restart can bind the same port again
   * (a port the kernel picked for `0` is in the ephemeral range and may be taken by an
   * outgoing connection while the service is down).
   */
  private async reservePorts(args: string[]): Promise<string[]> {
    const out = [...args];
    for (const flag of Object.keys(this.spec.portFlags ?? {})) {
      const i = out.indexOf(flag);
      if (i >= 0 && out[i + 1] === '0') out[i + 1] = String(await freePort());
    }
    return out;
  }

  /** Starts again with the same arguments (same data dir) and the ports it bound before. */
  async restart(deadlineMs = 20_000): Promise<this> {
    if (this.alive) await this.stop();
    const args = [...this.spec.args];
    for (const [flag, fieldName] of Object.entries(this.spec.portFlags ?? {})) {
      const i = args.indexOf(flag);
      const bound = this.ready[fieldName];
      if (i >= 0 && typeof bound === 'number') args[i + 1] = String(bound);
    }
    return this.start(deadlineMs, args);
  }

  /** The last `lines` lines of the captured output. */
  tail(lines = 40): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no output)';
    }
  }
}

export interface StoreOptions {
  id?: string;
  group?: string;
  /** Extra flags, e.g. ['--broker.maximumRedeliveries', '2']. */
  args?: string[];
  /** Extra environment, e.g. { NODE_OPTIONS: '--inspect=127.0.0.1:0' } (tools/fuzz local.js --gc-probe). */
  env?: Record<string, string>;
}

export interface GatewayOptions {
  id?: string;
  args?: string[];
}

/** A store process, with its data dir and ports. */
export class Store extends ServiceProcess {
  readonly dataDir: string;
  constructor(spec: ServiceSpec, logDir: string, dataDir: string) {
    super(spec, logDir);
    this.dataDir = dataDir;
  }
  get grpcPort(): number { return this.field('grpcPort'); }
  get httpPort(): number { return this.field('httpPort'); }
  get host(): string { return this.spec.host ?? '127.0.0.1'; }
  get address(): string { return `${this.host}:${this.grpcPort}`; }
  /** The embedded gateway's STOMP port (started with --gateway.enabled true). */
  get stompPort(): number { return this.field('stompPort'); }
  get stompUri(): string { return `stomp://${this.host}:${this.stompPort}`; }
}

/** A gateway process, with the URIs clients use. */
export class Gateway extends ServiceProcess {
  get stompPort(): number { return this.field('stompPort'); }
  get wsPort(): number { return this.field('wsPort'); }
  get httpPort(): number { return this.field('httpPort'); }
  get stompUri(): string { return `stomp://127.0.0.1:${this.stompPort}`; }
  get wsUri(): string { return `ws://127.0.0.1:${this.wsPort}/`; }
}

/**
 * The processes and temp dir of one test file. Create it in before(), call
 * `reportIfFailed(t)` in afterEach() and `close()` in after(): close() stops every process
 * (even when a test failed) and removes the temp dir.
 */
export class Harness {
  readonly root: string;
  readonly logDir: string;
  private readonly services: ServiceProcess[] = [];

  /** The stores started so far, in order. */
  get stores(): Store[] { return this.services.filter((s): s is Store => s instanceof Store); }
  /** The gateways started so far, in order. */
  get gateways(): Gateway[] { return this.services.filter((s): s is Gateway => s instanceof Gateway); }
  /** Every running service's name and pid (benchmarks read their CPU from /proc). */
  get processes(): Array<{ name: string; pid: number }> {
    return this.services.filter((s) => s.alive && s.pid !== undefined).map((s) => ({ name: s.name, pid: s.pid! }));
  }

  constructor(name: string) {
    this.root = mkdtempSync(join(tmpdir(), `hawser-e2e-${name}-`));
    this.logDir = join(this.root, 'logs');
    mkdirSync(this.logDir);
  }

  /** A store on free ports with its own data dir under the temp dir. */
  async startStore(opts: StoreOptions = {}): Promise<Store> {
    const id = opts.id ?? `s${this.stores.length + 1}`;
    const dataDir = join(this.root, `data-${id}`);
    const store = new Store({
      name: `store-${id}`,
      script: 'apps/store/dist/main.js',
      args: ['--group', opts.group ?? 'g1', '--node.id', id, '--node.dataDir', dataDir, '--grpc.port', '0', '--http.port', '0', '--gateway.auth.anonymous', 'true', ...(opts.args ?? [])],
      readyMsg: 'store ready',
      portFlags: { '--grpc.port': 'grpcPort', '--http.port': 'httpPort' },
      env: opts.env,
    }, this.logDir, dataDir);
    this.services.push(store);
    return store.start();
  }

  /** A gateway on free ports, talking to `store`. */
  async startGateway(store: Store, opts: GatewayOptions = {}): Promise<Gateway> {
    const id = opts.id ?? `gw${this.gateways.length + 1}`;
    const gateway = new Gateway({
      name: `gateway-${id}`,
      script: 'apps/gateway/dist/main.js',
      args: ['--gateway.id', id, '--store.address', store.address, '--stomp.port', '0', '--ws.port', '0', '--http.port', '0', '--auth.anonymous', 'true', ...(opts.args ?? [])],
      readyMsg: 'gateway ready',
      portFlags: { '--stomp.port': 'stompPort', '--ws.port': 'wsPort', '--http.port': 'httpPort' },
    }, this.logDir);
    this.services.push(gateway);
    return gateway.start();
  }

  /**
   * Any service (a coordinator, a gateway with other flags, ...): registered like the
   * stores and gateways (logs on failure, stopped by close()), then started.
   */
  async startService<T extends ServiceProcess>(svc: T, deadlineMs?: number): Promise<T> {
    this.services.push(svc);
    return svc.start(deadlineMs);
  }

  /** Every service registered so far, in order. */
  get all(): readonly ServiceProcess[] { return this.services; }

  /** A store and a gateway in front of it. */
  async startBroker(opts: { store?: StoreOptions; gateway?: GatewayOptions } = {}): Promise<{ store: Store; gateway: Gateway }> {
    const store = await this.startStore(opts.store);
    const gateway = await this.startGateway(store, opts.gateway);
    return { store, gateway };
  }

  /** For afterEach((t) => h.reportIfFailed(t)): prints the service logs when the test failed. */
  reportIfFailed(t: { passed?: boolean; name?: string }): void {
    if (t.passed === false) {
      process.stderr.write(`\n[harness] test "${t.name}" failed; service logs:\n${this.logTails()}\n`);
    }
  }

  logTails(lines = 40): string {
    return this.services.map((s) => `--- ${s.name} (pid ${s.pid ?? '-'}, ${s.alive ? 'alive' : `exited ${JSON.stringify(s.lastExit ?? null)}`}) ${s.logFile} ---\n${s.tail(lines)}`).join('\n');
  }

  /** Stops every process (SIGTERM, then SIGKILL) and removes the temp dir (kept if HAWSER_KEEP_TMP=1). */
  async close(): Promise<void> {
    const statuses = await Promise.all(this.services.map(async (s) => [s, await s.stop(10_000).catch(() => undefined)] as const));
    for (const [s, st] of statuses) {
      // A service that does not exit 0 on SIGTERM is a bug worth seeing.
      if (st && st.code !== 0 && st.signal !== 'SIGKILL') process.stderr.write(`[harness] ${s.name} exited with ${JSON.stringify(st)} on stop\n`);
    }
    if (process.env.HAWSER_KEEP_TMP === '1') {
      process.stderr.write(`[harness] HAWSER_KEEP_TMP=1: keeping ${this.root}\n`);
      return;
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** GET http://127.0.0.1:port/path; resolves with status and body. */
export async function httpGet(port: number, path: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.text() };
}
