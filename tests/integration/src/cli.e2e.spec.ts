// The hawser CLI (tools/cli/dist/main.js) as a user runs it, against a real store and
// gateway: every command, its exit codes, its JSON, and one line when the broker is down.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Harness, ROOT, freePort, type Gateway, type Store } from './harness';

const CLI = join(ROOT, 'tools/cli/dist/main.js');

interface Run { code: number | null; stdout: string; stderr: string }

/** Runs the CLI as a process; kills it (by PID) if it outlives `timeoutMs`. */
function hawser(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString('utf8'); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.once('error', (err) => { clearTimeout(timer); reject(err); });
    child.once('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    child.stdin.end(opts.input ?? '');
  });
}

function jsonLines(text: string): Array<Record<string, unknown>> {
  return text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('hawser CLI against a real store and gateway', { timeout: 120_000 }, () => {
  const h = new Harness('cli');
  let store: Store;
  let gateway: Gateway;
  let uri: string;

  before(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} does not exist: build it first (npx tsc -b tools/cli)`);
    ({ store, gateway } = await h.startBroker());
    uri = gateway.stompUri;
  });
  afterEach((t) => h.reportIfFailed(t));
  after(() => h.close());

  it('send, browse, destinations, receive, purge, delete on one queue', async () => {
    const q = '/queue/cli-basic';
    let r = await hawser(['send', q, 'hello', '--uri', uri, '--count', '3', '--persistent', '--header', 'color=red']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `sent 3 messages to ${q}\n`);
    r = await hawser(['send', q, '-', '--uri', uri, '--json'], { input: 'from\nstdin' });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { destination: q, sent: 1 });

    r = await hawser(['browse', q, '--store', store.address, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const browsed = jsonLines(r.stdout);
    assert.deepEqual(browsed.map((m) => m.body), ['hello', 'hello', 'hello', 'from\nstdin']);
    assert.deepEqual(browsed.map((m) => m.persistent), [true, true, true, false]);
    assert.equal((browsed[0]!.headers as Record<string, string>).color, 'red');
    r = await hawser(['browse', q, '--store', store.address, '--limit', '2']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ID +PRI +PERSISTENT +DELIVERIES +TIMESTAMP +BODY\n/);
    assert.equal(r.stdout.trim().split('\n').length, 3);

    r = await hawser(['destinations', '--store', store.address, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const dest = (JSON.parse(r.stdout) as { destinations: Array<{ name: string; depth: number }> }).destinations.find((d) => d.name === q);
    assert.equal(dest?.depth, 4);

    r = await hawser(['receive', q, '--uri', uri, '--count', '2', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const got = jsonLines(r.stdout);
    assert.equal(got.length, 2);
    assert.deepEqual(got.map((m) => m.body), ['hello', 'hello']);
    assert.equal(got[0]!.destination, q);
    assert.equal((got[0]!.headers as Record<string, string>).color, 'red');

    r = await hawser(['receive', q, '--uri', uri, '--count', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello\n');

    r = await hawser(['purge', q, '--store', store.address, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { destination: q, removed: 1 });
    r = await hawser(['browse', q, '--store', store.address]);
    assert.equal(r.stdout, `no messages on ${q}\n`);

    // delete: not without --yes from a script (stdin is no terminal to ask on); then the queue is gone.
    r = await hawser(['delete', q, '--store', store.address]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /pass --yes to confirm/);
    r = await hawser(['delete', q, '--store', store.address, '--yes', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { destination: q, removed: 0 });
    r = await hawser(['destinations', '--store', store.address, '--json']);
    assert.ok(!(JSON.parse(r.stdout) as { destinations: Array<{ name: string }> }).destinations.some((d) => d.name === q), 'no longer listed');
    r = await hawser(['delete', q, '--store', store.address, '--yes']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /NOT_FOUND: queue '\/queue\/cli-basic' does not exist on this store/);
  });

  it('receive: a selector filters; timeout before --count exits 1 with one line', async () => {
    const q = '/queue/cli-select';
    assert.equal((await hawser(['send', q, 'blue', '--uri', uri, '--header', 'color=blue'])).code, 0);
    assert.equal((await hawser(['send', q, 'red', '--uri', uri, '--header', 'color=red'])).code, 0);
    let r = await hawser(['receive', q, '--uri', uri, '--selector', "color = 'red'"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'red\n');
    r = await hawser(['receive', q, '--uri', uri, '--count', '3', '--timeout', '700']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, 'blue\n');
    assert.equal(r.stderr, `hawser receive: received 1 of 3 messages: no message on ${q} within 700 ms\n`);
  });

  it('status --json (standalone store): one group, the store as its member, destinations', async () => {
    const r = await hawser(['status', '--store', store.address, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as {
      source: string; address: string; version: number; coordinators: unknown[]; gateways: unknown[];
      groups: Array<{ name: string; state: string; masterId: string; members: Array<{ id: string; role: string; pid: number; commitPosition: number }> }>;
      destinations: Array<{ name: string }>;
    };
    assert.equal(doc.source, 'store');
    assert.equal(doc.address, store.address);
    assert.equal(doc.groups.length, 1);
    assert.equal(doc.groups[0]!.name, 'g1');
    assert.equal(doc.groups[0]!.state, 'ok');
    assert.equal(doc.groups[0]!.members[0]!.id, 's1');
    assert.equal(doc.groups[0]!.members[0]!.role, 'standalone');
    assert.equal(doc.groups[0]!.members[0]!.pid, store.pid);
    assert.ok(doc.groups[0]!.members[0]!.commitPosition > 0);
    assert.ok(doc.destinations.some((d) => d.name === '/queue/cli-select'));
    const text = await hawser(['status', '--store', store.address]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^standalone store 127\.0\.0\.1:\d+\n/);
  });

  it('bench: a small persistent run checks every id: 0 lost, 0 duplicates, exit 0', async () => {
    const r = await hawser(['bench', '--uri', uri, '--producers', '2', '--consumers', '2', '--count', '600', '--window', '8',
      '--persistent', '--size', '256', '--destination', '/queue/cli-bench', '--json'], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    const res = JSON.parse(r.stdout) as {
      sent: number; receipted: number; received: number; lost: number; duplicates: number; failedSends: number;
      producer: { msgPerSec: number }; latencyMs: { sendToReceipt: { count: number; p50: number }; sendToDelivery: { count: number } };
    };
    assert.equal(res.sent, 600);
    assert.equal(res.receipted, 600);
    assert.equal(res.received, 600);
    assert.equal(res.lost, 0);
    assert.equal(res.duplicates, 0);
    assert.equal(res.failedSends, 0);
    assert.ok(res.producer.msgPerSec > 0);
    assert.equal(res.latencyMs.sendToReceipt.count, 600);
    assert.equal(res.latencyMs.sendToDelivery.count, 600);
    // Progress lines go to stderr (not a TTY here: every 2 s), never to stdout.
    for (const line of r.stderr.split('\n').filter(Boolean)) assert.match(line, /^bench \d+\.\ds: sent /);
  });

  it('a broker that is down: exit 3 and one line, for STOMP and for gRPC commands', async () => {
    const port = await freePort();
    for (const args of [
      ['send', '/queue/a', 'x', '--uri', `stomp://127.0.0.1:${port}`],
      ['receive', '/queue/a', '--uri', `stomp://127.0.0.1:${port}`],
      ['bench', '--uri', `stomp://127.0.0.1:${port}`, '--count', '10'],
      ['status', '--store', `127.0.0.1:${port}`],
      ['status', '--coordinators', `127.0.0.1:${port}`, '--json'],
      ['browse', '/queue/a', '--store', `127.0.0.1:${port}`],
    ]) {
      const r = await hawser(args);
      assert.equal(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      const lines = r.stderr.split('\n').filter(Boolean);
      assert.equal(lines.length, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(lines[0]!, new RegExp(`^hawser ${args[0]}: .*127\\.0\\.0\\.1:${port}.*ECONNREFUSED`));
    }
  });

  it('failover URIs: a dead first URI is skipped; all dead is exit 3 with one line', async () => {
    const dead = await freePort();
    const failover = `failover:(stomp://127.0.0.1:${dead},${uri})?randomize=false&initialReconnectDelay=10`;
    const q = '/queue/cli-failover';
    let r = await hawser(['send', q, 'via failover', '--uri', failover]);
    assert.equal(r.code, 0, r.stderr);
    r = await hawser(['receive', q, '--uri', failover]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'via failover\n');
    r = await hawser(['bench', '--uri', failover, '--count', '200', '--window', '8', '--destination', '/queue/cli-failover-bench', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { lost: number }).lost, 0);
    r = await hawser(['send', q, 'x', '--uri', `failover:(stomp://127.0.0.1:${dead})?initialReconnectDelay=10`]);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
    assert.match(r.stderr, /^hawser send: broker unreachable: .*ECONNREFUSED/);
  });

  it('usage errors exit 2 with one line', async () => {
    for (const args of [['send'], ['receive', '/queue/a', '--ack', 'sometimes'], ['bench', '--window', '0'], ['send', '/queue/a', '--uri', 'nope']]) {
      const r = await hawser(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
    }
  });
});
