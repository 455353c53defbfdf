// Memory bound check: enqueue N (default 1,000,000) persistent 1 KiB messages on one queue
// with no consumer, then read the store's heap from its /metrics. Only a page of the queue
// (broker.pageSize) may be in the heap; the rest stays in RocksDB.
//
//   npx tsc -b apps/store && node apps/store/dist/bench/backlog.js [--count 1000000] [--batch 500] [--window 20000]
//
// The store runs as a child process (so the client's memory is not counted) on a temp dir,
// which is removed at the end.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { checkFor, TestSession } from '../testing';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

function scrape(port: number): Promise<string> {
  return new Promise((res, rej) => get({ host: '127.0.0.1', port, path: '/metrics' }, (r) => {
    let s = '';
    r.on('data', (b: Buffer) => { s += b.toString(); });
    r.on('end', () => res(s));
  }).on('error', rej));
}

function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(name + '{') || l.startsWith(name + ' '));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : NaN;
}

async function main(): Promise<void> {
  const count = arg('count', 1_000_000);
  const batch = arg('batch', 500);
  const window = arg('window', 20_000);
  const dir = mkdtempSync(join(tmpdir(), 'hawser-backlog-'));
  const child = spawn(process.execPath, ['--expose-gc', resolve(__dirname, '../main.js'), '--group', 'bench', '--node.id', 'b1', '--node.dataDir', dir, '--grpc.port', '0', '--http.port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  try {
    const ready = JSON.parse((await checkFor('store ready', () => out.split('\n').find((l) => l.includes('"msg":"store ready"')), 15_000))!) as { grpcPort: number; httpPort: number };
    const p = new TestSession(`127.0.0.1:${ready.grpcPort}`);
    await p.open();
    p.keepEvents = false;
    const body = Buffer.alloc(1024, 'x');
    const started = Date.now();
    let sent = 0;
    let lastReport = started;
    while (sent < count) {
      await checkFor('receipt window', () => sent - p.receipts().size < window, 120_000, 1);
      const n = Math.min(batch, count - sent);
      const reqs = [];
      for (let i = 0; i < n; i++) reqs.push({ kind: 'send', send: { message: { id: `ID:bl-${sent + i}`, destination: '/queue/backlog', headers: {}, body, persistent: true, priority: 4, expires: 0, timestamp: 0 }, transaction: '' } });
      p.request(...(reqs as Parameters<TestSession['request']>));
      sent += n;
      if (Date.now() - lastReport > 5000) {
        lastReport = Date.now();
        process.stdout.write(`backlog: sent ${sent} (${Math.round(sent / ((Date.now() - started) / 1000))}/s)\n`);
      }
    }
    await checkFor('last receipt', () => p.receipts().size >= count + 1 || p.receipts().has(sent), 120_000);
    const secs = (Date.now() - started) / 1000;
    const m = await scrape(ready.httpPort);
    const heap = metric(m, 'hawser_process_nodejs_heap_size_used_bytes');
    const rss = metric(m, 'hawser_process_process_resident_memory_bytes');
    const depth = metric(m, 'hawser_store_queue_depth');
    process.stdout.write(`backlog: ${count} x 1 KiB persistent in ${secs.toFixed(1)} s (${Math.round(count / secs)} msg/s); queue depth ${depth}; store heap used ${(heap / 2 ** 20).toFixed(1)} MiB, rss ${(rss / 2 ** 20).toFixed(1)} MiB\n`);
    p.close();
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: Error) => { process.stderr.write(`backlog: ${e.message}\n`); process.exit(1); });
