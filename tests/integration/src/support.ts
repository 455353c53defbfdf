// Helpers shared by the scenario files: client bookkeeping, unique destination names,
// raw-socket STOMP for bad-input tests.
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { randomBytes } from 'node:crypto';
import { connect, type ConnectOptions, type StompClient, type Subscription, type Message } from '@hawser/client';

/** A destination name nobody else in the run uses. */
export function unique(prefix: string): string {
  return `${prefix}.${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

/** Clients opened by a test; afterEach() closes the ones still open. */
export class Clients {
  private readonly open = new Set<StompClient>();
  constructor(private readonly uri: () => string) {}

  async connect(opts: ConnectOptions = {}, uri = this.uri()): Promise<StompClient> {
    const c = await connect(uri, { connectTimeoutMs: 10_000, receiptTimeoutMs: 15_000, ...opts });
    this.open.add(c);
    c.once('close', () => this.open.delete(c));
    return c;
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.open].map((c) => c.disconnect({ timeoutMs: 2000 }).catch(() => c.destroy())));
    this.open.clear();
  }
}

/** Reads messages until none comes for `quietMs`; returns them. */
export async function drain(sub: Subscription, quietMs = 1000, max = 100_000): Promise<Message[]> {
  const out: Message[] = [];
  while (out.length < max) {
    const m = await sub.tryNext(quietMs);
    if (!m) break;
    out.push(m);
  }
  return out;
}

export const texts = (ms: Message[]): string[] => ms.map((m) => m.text);

/** One persistent SEND on a fresh queue, receipted, then consumed and acked: the group commits and delivers. */
export async function roundTrip(producer: StompClient, consumer: StompClient, prefix: string, timeoutMs = 30_000): Promise<void> {
  const q = unique(prefix);
  const sub = await consumer.subscribe(q, { ack: 'client-individual' });
  await producer.send(q, 'round trip', { persistent: true });
  const m = await sub.next(timeoutMs);
  assert.equal(m.text, 'round trip');
  await m.ack();
}

/** A parsed frame read from a raw socket. */
export interface RawFrame { command: string; headers: Record<string, string>; body: string }

/** A raw TCP connection: write bytes, read frames, see the close. Used for bad input. */
export class RawStomp {
  private buf = Buffer.alloc(0);
  closed = false;
  /** The version CONNECTED named: from 1.1 on, header values after CONNECTED are escaped. */
  version: string | undefined;
  private readonly waiters: Array<() => void> = [];
  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this.wake(); });
    socket.on('close', () => { this.closed = true; this.wake(); });
    socket.on('error', () => { /* the close event follows */ });
  }

  static open(port: number): Promise<RawStomp> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => { s.off('error', reject); resolve(new RawStomp(s)); });
      s.once('error', reject);
    });
  }

  private wake(): void { for (const w of this.waiters.splice(0)) w(); }

  write(data: string | Buffer): void { this.socket.write(data); }

  /** The frames received so far (heart-beat EOLs skipped). */
  frames(): RawFrame[] {
    const out: RawFrame[] = [];
    let text = this.buf.toString('utf8');
    for (;;) {
      text = text.replace(/^[\r\n]+/, '');
      const nul = text.indexOf('\0');
      if (nul < 0) break;
      const raw = text.slice(0, nul);
      text = text.slice(nul + 1);
      const [head, ...rest] = raw.split('\n\n');
      const lines = head!.split('\n');
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        if (i <= 0) continue;
        const name = l.slice(0, i);
        // STOMP 1.1/1.2 header escapes \c \n \r \\ (never on CONNECT/CONNECTED).
        const escaped = this.version !== undefined && this.version !== '1.0' && lines[0] !== 'CONNECTED';
        const value = escaped ? unescapeHeader(l.slice(i + 1)) : l.slice(i + 1);
        if (!(name in headers)) headers[name] = value;
      }
      out.push({ command: lines[0]!, headers, body: rest.join('\n\n') });
    }
    return out;
  }

  /** Waits until `pred` holds on the frames, or throws after `timeoutMs`. */
  async waitFor(pred: (frames: RawFrame[], closed: boolean) => boolean, timeoutMs: number, what: string): Promise<RawFrame[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frames = this.frames();
      if (pred(frames, this.closed)) return frames;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; closed=${this.closed}; received: ${JSON.stringify(this.buf.toString('utf8').slice(0, 500))}`);
      }
      await new Promise<void>((r) => { const t = setTimeout(r, Math.min(left, 100)); this.waiters.push(() => { clearTimeout(t); r(); }); });
    }
  }

  /** CONNECT as STOMP 1.2 and wait for CONNECTED. */
  async handshake(timeoutMs = 5000): Promise<void> {
    this.write('CONNECT\naccept-version:1.2\nhost:localhost\nheart-beat:0,0\n\n\0');
    await this.waitFor((f) => f.some((x) => x.command === 'CONNECTED' || x.command === 'ERROR'), timeoutMs, 'CONNECTED');
    const f = this.frames().find((x) => x.command === 'CONNECTED');
    if (!f) throw new Error(`handshake failed: ${JSON.stringify(this.frames())}`);
    this.version = f.headers['version'] ?? '1.0';
  }

  /** Waits for an ERROR frame followed by the server closing the connection. */
  async expectErrorAndClose(timeoutMs = 5000): Promise<RawFrame> {
    const frames = await this.waitFor((f, closed) => closed && f.some((x) => x.command === 'ERROR'), timeoutMs, 'an ERROR frame and a closed connection');
    return frames.find((x) => x.command === 'ERROR')!;
  }

  destroy(): void { this.socket.destroy(); }
}

function unescapeHeader(v: string): string {
  return v.replace(/\\([cnr\\])/g, (_, ch: string) => (ch === 'c' ? ':' : ch === 'n' ? '\n' : ch === 'r' ? '\r' : '\\'));
}

/** True if a process with this PID exists (signal 0 checks without signalling). */
export function pidAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try { process.kill(pid, 0); return true; } catch { return false; }
}
