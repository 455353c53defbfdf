// freePort: below the kernel's ephemeral range, reserved across processes by lock files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, lock, releasePort } from './ports';

const LOCKS = join(tmpdir(), 'hawser-test-ports');
const ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);

test('ports are below the ephemeral range, distinct, bindable, and locked for this process until released', async () => {
  const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
  assert.equal(new Set(ports).size, ports.length, 'no port handed out twice');
  for (const p of ports) {
    assert.ok(p >= 20_000 && p < ephemeralLow, `${p} is below the ephemeral range (${ephemeralLow})`);
    assert.equal(readFileSync(join(LOCKS, String(p)), 'utf8'), String(process.pid));
  }
  const srv = createServer();
  await new Promise<void>((res, rej) => { srv.once('error', rej); srv.listen(ports[0], '127.0.0.1', () => res()); });
  await new Promise<void>((res) => srv.close(() => res()));
  for (const p of ports) releasePort(p);
  for (const p of ports) assert.ok(!existsSync(join(LOCKS, String(p))), `lock of ${p} removed`);
});

test('a lock held by a live process is respected; a dead owner\'s lock is taken over; an exiting owner releases its ports', () => {
  const port = 19_999 - (process.pid % 1000); // below what freePort hands out: no other test's lock
  const file = join(LOCKS, String(port));
  try {
    writeFileSync(file, String(process.ppid)); // alive: the test runner
    assert.equal(lock(port), false);
    writeFileSync(file, String(2 ** 22 + 4321)); // above any default pid_max: never alive
    assert.equal(lock(port), true);
    assert.equal(readFileSync(file, 'utf8'), String(process.pid));
    assert.equal(lock(port), false, 'not twice, not even to itself');
  } finally {
    rmSync(file, { force: true });
  }
  const script = `require(${JSON.stringify(join(__dirname, 'ports.js'))}).freePort().then((p) => { console.log(p); process.exit(0); })`;
  const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  const p = Number(out.trim());
  assert.ok(p >= 20_000 && p < ephemeralLow, `a port in 20000-${ephemeralLow - 1} from the child, got ${JSON.stringify(out)}`);
  assert.ok(!existsSync(join(LOCKS, String(p))), 'released when its owner exited');
});
