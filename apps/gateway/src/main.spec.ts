// The service process (home 1): starts from flags, logs its ports, stops cleanly on SIGTERM.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { FakeBroker, RawClient, checkFor } from '@hawser/gateway/dist/testkit';

const cleanups: Array<() => unknown> = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

async function client(c: Promise<RawClient>): Promise<RawClient> {
  const r = await c;
  cleanups.push(() => r.close());
  return r;
}

test('the service process: "gateway ready" line with ports, SIGTERM exits 0', async () => {
  const broker = await new FakeBroker().start();
  cleanups.push(() => broker.stop());
  const child = spawn(process.execPath, [join(__dirname, 'main.js'), '--gateway.id', 'gw-proc', '--store.address', broker.address,
    '--stomp.port', '0', '--ws.port', '0', '--http.port', '0', '--auth.anonymous', 'true'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HAWSER_CONFIG: '' } });
  cleanups.push(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const ready = await checkFor('the ready line', () => out.split('\n').map((l) => { try { return JSON.parse(l); } catch { return undefined; } })
    .find((l) => l?.msg === 'gateway ready'), 10_000);
  for (const k of ['stompPort', 'wsPort', 'httpPort']) assert.ok(ready[k] > 0, k);
  const c = await client(RawClient.tcp(ready.stompPort));
  await c.connect();
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  child.kill('SIGTERM');
  assert.equal((await c.expect('ERROR')).headers.message, 'server shutting down');
  assert.equal(await exited, 0);
});
