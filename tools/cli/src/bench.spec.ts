// `hawser bench` against a fake STOMP broker on 127.0.0.1 that can lose and duplicate
// chosen messages: the id check must find exactly those, and the exit code must say so.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { runCli } from './main';
import { bufferIo } from './io';
import type { BenchResult } from './bench-stats';

interface Frame { command: string; headers: Record<string, string>; body: string }

/** Splits NUL-terminated frames (bench bodies hold no NUL); skips heart-beat EOLs. */
function frames(buf: { data: string }): Frame[] {
  const out: Frame[] = [];
  for (;;) {
    buf.data = buf.data.replace(/^[\r\n]+/, '');
    const end = buf.data.indexOf('\0');
    if (end < 0) return out;
    const raw = buf.data.slice(0, end);
    buf.data = buf.data.slice(end + 1);
    const sep = raw.indexOf('\n\n');
    const [command, ...lines] = raw.slice(0, sep).split('\n');
    const headers: Record<string, string> = {};
    for (const l of lines) { const i = l.indexOf(':'); if (i > 0 && !(l.slice(0, i) in headers)) headers[l.slice(0, i)] = l.slice(i + 1); }
    out.push({ command: command!.trim(), headers, body: raw.slice(sep + 2) });
  }
}

function encode(command: string, headers: Record<string, string>, body = ''): string {
  return `${command}\n${Object.entries(headers).map(([k, v]) => `${k}:${v}`).join('\n')}\n\n${body}\0`;
}

/** A one-queue STOMP 1.2 broker: receipts, round-robin dispatch, ids to drop or duplicate. */
class FakeBroker {
  readonly server = net.createServer((s) => this.accept(s));
  private readonly subs: Array<{ socket: net.Socket; id: string }> = [];
  private next = 0;
  private seq = 0;
  drop = new Set<string>();
  duplicate = new Set<string>();

  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return (this.server.address() as net.AddressInfo).port;
  }

  private accept(socket: net.Socket): void {
    const buf = { data: '' };
    socket.setEncoding('latin1');
    socket.on('error', () => undefined);
    socket.on('close', () => { for (let i = this.subs.length - 1; i >= 0; i--) if (this.subs[i]!.socket === socket) this.subs.splice(i, 1); });
    socket.on('data', (chunk: string) => {
      buf.data += chunk;
      for (const f of frames(buf)) this.onFrame(socket, f);
    });
  }

  private onFrame(socket: net.Socket, f: Frame): void {
    const receipt = () => { if (f.headers.receipt) socket.write(encode('RECEIPT', { 'receipt-id': f.headers.receipt })); };
    switch (f.command) {
      case 'CONNECT':
      case 'STOMP':
        socket.write(encode('CONNECTED', { version: '1.2', 'heart-beat': '0,0', server: 'fake/1' }));
        return;
      case 'SUBSCRIBE':
        this.subs.push({ socket, id: f.headers.id! });
        receipt();
        return;
      case 'SEND': {
        receipt();
        const id = f.headers['bench-id'] ?? '';
        if (this.drop.has(id) || this.subs.length === 0) return;
        const copies = this.duplicate.has(id) ? 2 : 1;
        for (let i = 0; i < copies; i++) {
          const sub = this.subs[this.next++ % this.subs.length]!;
          const mid = `m-${++this.seq}`;
          const headers: Record<string, string> = { ...f.headers, subscription: sub.id, 'message-id': mid, ack: mid };
          delete headers.receipt;
          sub.socket.write(encode('MESSAGE', headers, f.body));
        }
        return;
      }
      case 'DISCONNECT':
        receipt();
        socket.end();
        return;
      default:
        receipt(); // ACK, UNSUBSCRIBE
    }
  }

  close(): Promise<void> {
    for (const s of this.subs) s.socket.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}

async function bench(port: number, extra: string[]): Promise<{ code: number; result: BenchResult; err: string }> {
  const io = bufferIo();
  const code = await runCli(['bench', '--uri', `stomp://127.0.0.1:${port}`, '--drain-timeout', '300', '--json', ...extra], io);
  return { code, result: JSON.parse(io.stdout() || 'null') as BenchResult, err: io.stderr() };
}

describe('hawser bench against a fake broker', () => {
  const broker = new FakeBroker();
  let port: number;
  before(async () => { port = await broker.listen(); });
  after(() => broker.close());

  it('every message delivered once: 0 lost, 0 duplicates, exit 0, latencies for each', async () => {
    const { code, result, err } = await bench(port, ['--count', '50', '--producers', '2', '--consumers', '2', '--window', '4', '--size', '100']);
    assert.equal(code, 0, err);
    assert.equal(result.sent, 50);
    assert.equal(result.receipted, 50);
    assert.equal(result.received, 50);
    assert.equal(result.lost, 0);
    assert.equal(result.duplicates, 0);
    assert.equal(result.latencyMs.sendToReceipt.count, 50);
    assert.equal(result.latencyMs.sendToDelivery.count, 50);
    assert.equal(result.producer.messages, 50);
    assert.equal(result.consumer?.messages, 50);
  });

  it('a dropped and a duplicated message are found by id; exit 1', async () => {
    // The run id is random: drop/duplicate by the producer-sequence suffix of any run.
    const origHas = Set.prototype.has;
    broker.drop = new Set(); broker.duplicate = new Set();
    broker.drop.has = function (id: string) { return id.endsWith('-0-5') || origHas.call(this, id); };
    broker.duplicate.has = function (id: string) { return id.endsWith('-0-7') || origHas.call(this, id); };
    const { code, result, err } = await bench(port, ['--count', '20', '--window', '1']);
    assert.equal(code, 1);
    assert.equal(result.receipted, 20);
    assert.equal(result.received, 19);
    assert.equal(result.lost, 1);
    assert.equal(result.duplicates, 1);
    assert.match(err, /^hawser bench: 1 lost, 0 failed sends\n$/m);
  });

  it('--rate paces the SENDs: 60 messages at 200/s over 2 producers take at least ~0.3 s', async () => {
    broker.drop = new Set(); broker.duplicate = new Set();
    const t0 = Date.now();
    const { code, result, err } = await bench(port, ['--count', '60', '--producers', '2', '--window', '8', '--rate', '200']);
    assert.equal(code, 0, err);
    assert.equal(result.rate, 200);
    assert.equal(result.received, 60);
    // Each producer sends 30 at 100/s: its 30th SEND is due 290 ms after its start. A
    // lower bound only (pacing sleeps); nothing here depends on the machine being fast.
    assert.ok(Date.now() - t0 >= 280, `took ${Date.now() - t0} ms`);
  });

  it('--warmup: only messages sent after it are measured; lost and duplicates count every message', async () => {
    broker.drop = new Set(); broker.duplicate = new Set();
    const { code, result, err } = await bench(port, ['--warmup', '1', '--duration', '1', '--window', '8', '--rate', '200']);
    assert.equal(code, 0, err);
    assert.equal(result.warmupS, 1);
    assert.equal(result.durationS, 1);
    assert.equal(result.lost, 0);
    assert.equal(result.received, result.sent);
    assert.equal(result.receipted, result.sent);
    // Paced over 2 s in all: some were sent in each part.
    assert.ok(result.producer.messages > 0 && result.producer.messages < result.receipted, `measured ${result.producer.messages} of ${result.receipted}`);
    assert.equal(result.latencyMs.sendToReceipt.count, result.producer.messages);
    assert.equal(result.latencyMs.sendToDelivery.count, result.consumer!.messages);
    assert.equal(result.consumer!.messages, result.producer.messages);
    assert.match(err, /^bench: warm-up over, measuring$/m, 'the end of the warm-up is said on stderr');
  });

  it('--warmup without --duration is a usage error', async () => {
    const io = bufferIo();
    const code = await runCli(['bench', '--uri', `stomp://127.0.0.1:${port}`, '--warmup', '1', '--count', '10'], io);
    assert.equal(code, 2);
    assert.match(io.stderr(), /--warmup needs --duration/);
  });

  it('no consumers: lost is null, exit 0', async () => {
    broker.drop = new Set(); broker.duplicate = new Set();
    const { code, result } = await bench(port, ['--count', '10', '--consumers', '0']);
    assert.equal(code, 0);
    assert.equal(result.lost, null);
    assert.equal(result.consumer, null);
  });
});
