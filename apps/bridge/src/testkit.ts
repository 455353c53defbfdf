// Test helpers for the bridge's specs: built services as real processes (ready line, kill -9,
// stop by PID), a raw Broker.Session client, and checkFor polling. Not used by the service.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Delivery, SessionEvent } from '@hawser/proto';
import { BrokerClients, NetworkSession } from './session';

export const ROOT = resolve(__dirname, '../../..');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function checkFor<T>(deadlineMs: number, intervalMs: number, fn: () => T | Promise<T>): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  let last: unknown;
  for (;;) {
    try { return await fn(); } catch (e) { last = e; }
    if (Date.now() >= deadline) throw new Error(`checkFor: still failing after ${deadlineMs} ms: ${(last as Error)?.message ?? String(last)}`, { cause: last });
    await sleep(intervalMs);
  }
}

const live = new Set<ChildProcess>();
process.on('exit', () => { for (const c of live) { try { c.kill('SIGKILL'); } catch { /* gone */ } } });

export class Proc {
  child: ChildProcess | undefined;
  ready: Record<string, unknown> = {};
  readonly logFile: string;
  private exited: Promise<void> | undefined;
  constructor(readonly name: string, readonly script: string, readonly args: string[], readonly readyMsg: string, logDir: string) {
    this.logFile = join(logDir, `${name}.log`);
  }
  get pid(): number | undefined { return this.child?.pid; }
  get alive(): boolean { return !!this.child && this.child.exitCode === null && this.child.signalCode === null; }

  async start(deadlineMs = 20_000): Promise<this> {
    let offset = 0;
    try { offset = readFileSync(this.logFile).length; } catch { /* new */ }
    const fd = openSync(this.logFile, 'a');
    const child = spawn(process.execPath, [join(ROOT, this.script), ...this.args], { cwd: ROOT, stdio: ['ignore', fd, fd], env: { ...process.env, HAWSER_LOG_LEVEL: 'info' } });
    closeSync(fd);
    this.child = child;
    live.add(child);
    this.exited = new Promise((r) => child.once('exit', () => { live.delete(child); r(); }));
    this.ready = await checkFor(deadlineMs, 50, () => {
      const line = this.lines(this.readyMsg, offset)[0];
      if (line) return line;
      if (!this.alive) throw new Error(`${this.name} exited before ready:\n${this.tail()}`);
      throw new Error(`${this.name} not ready:\n${this.tail()}`);
    });
    return this;
  }

  /** JSON log lines with this msg (from byte offset). */
  lines(msg: string, offset = 0): Array<Record<string, unknown>> {
    let text = '';
    try { text = readFileSync(this.logFile).subarray(offset).toString('utf8'); } catch { return []; }
    const out: Array<Record<string, unknown>> = [];
    for (const l of text.split('\n')) {
      if (!l.startsWith('{')) continue;
      try { const o = JSON.parse(l) as Record<string, unknown>; if (o.msg === msg) out.push(o); } catch { /* partial */ }
    }
    return out;
  }

  tail(n = 30): string {
    try { return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-n).join('\n'); } catch { return '(no output)'; }
  }

  async kill9(): Promise<void> {
    if (this.alive) this.child!.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<number | null> {
    if (!this.child || !this.alive) return this.child?.exitCode ?? null;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => { if (this.alive) this.child!.kill('SIGKILL'); }, 10_000);
    await this.exited;
    clearTimeout(t);
    return this.child.exitCode;
  }
}

export class TestEnv {
  readonly root = mkdtempSync(join(tmpdir(), 'hawser-bridge-spec-'));
  readonly procs: Proc[] = [];

  async store(group: string, id = group): Promise<Proc & { address: string }> {
    const p = new Proc(`store-${id}`, 'apps/store/dist/main.js', ['--group', group, '--node.id', id, '--node.dataDir', join(this.root, `data-${id}`), '--grpc.port', '0', '--http.port', '0'], 'store ready', this.root);
    this.procs.push(p);
    await p.start();
    return Object.assign(p, { address: `127.0.0.1:${p.ready.grpcPort as number}` });
  }

  bridge(id: string, args: string[]): Proc {
    const p = new Proc(`bridge-${id}`, 'apps/bridge/dist/main.js', ['--bridge.id', id, '--http.port', '0', '--demandPollMs', '100', ...args], 'bridge ready', this.root);
    this.procs.push(p);
    return p;
  }

  logs(): string { return this.procs.map((p) => `--- ${p.name} ---\n${p.tail(25)}`).join('\n'); }

  async close(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.stop().catch(() => undefined)));
    if (process.env.HAWSER_KEEP_TMP !== '1') rmSync(this.root, { recursive: true, force: true });
  }
}

/** A plain (non-network) client session on a store: send with receipts, consume with acks. */
export class TestClient {
  private static clients = new BrokerClients();
  private readonly session: NetworkSession;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  readonly received = new Map<string, Delivery[]>();
  private nextSub = 1;

  constructor(address: string, name: string) {
    this.session = new NetworkSession(TestClient.clients.get(address), {
      onEvent: (ev) => this.onEvent(ev),
      onFailure: (e) => { for (const w of this.waiting.values()) w.reject(e); this.waiting.clear(); },
    }).start();
    this.session.request('open', { connectionId: name, clientId: name, login: '', gateway: 'test' });
  }

  private onEvent(ev: SessionEvent): void {
    if (ev.kind === 'receipt') { this.waiting.get(ev.receipt.requestId)?.resolve(); this.waiting.delete(ev.receipt.requestId); }
    else if (ev.kind === 'error') {
      const w = this.waiting.get(ev.error.requestId);
      if (w) { w.reject(new Error(`${ev.error.code}: ${ev.error.message}`)); this.waiting.delete(ev.error.requestId); }
    } else if (ev.kind === 'delivery') {
      const d = ev.delivery;
      const list = this.received.get(d.subscriptionId) ?? [];
      list.push(d);
      this.received.set(d.subscriptionId, list);
      this.session.request('ack', { deliveryTag: d.deliveryTag, transaction: '' });
    }
  }

  private receipted(id: number): Promise<void> {
    return new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject }));
  }

  send(destination: string, id: string, body: string, headers: Record<string, string> = {}): Promise<void> {
    const rid = this.session.request('send', { message: { id, destination, headers, body: Buffer.from(body), persistent: true, priority: 4, expires: 0, timestamp: 0 }, transaction: '' }, true);
    return this.receipted(rid);
  }

  /** Subscribes (client-individual; every delivery acked at once); returns the subscription id. */
  async subscribe(destination: string, opts: { durableName?: string; prefetch?: number; priority?: number } = {}): Promise<string> {
    const id = `s${this.nextSub++}`;
    const rid = this.session.request('subscribe', { subscriptionId: id, destination, ackMode: 'ACK_MODE_CLIENT_INDIVIDUAL', prefetch: opts.prefetch ?? 100, selector: '', durableName: opts.durableName ?? '', noLocal: false, priority: opts.priority ?? 0 }, true);
    await this.receipted(rid);
    return id;
  }

  /** The producers' ids of what arrived (a replayed message carries its original id in hawser-original-id). */
  ids(sub: string): string[] { return (this.received.get(sub) ?? []).map((d) => d.message.headers['hawser-original-id'] || d.message.id); }

  close(): void { this.session.end(); }
}

/** "lost", "dup" and "unknown" ids between what was sent and what arrived. */
export function exactlyOnce(sent: readonly string[], got: readonly string[]): { lost: string[]; duplicates: string[]; unknown: string[] } {
  const count = new Map<string, number>();
  for (const id of got) count.set(id, (count.get(id) ?? 0) + 1);
  const s = new Set(sent);
  return {
    lost: sent.filter((id) => !count.has(id)),
    duplicates: [...count].filter(([, n]) => n > 1).map(([id]) => id),
    unknown: [...count.keys()].filter((id) => !s.has(id)),
  };
}
