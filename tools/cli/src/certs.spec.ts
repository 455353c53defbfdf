// `hawser certs` with the real openssl, and --tls.* of the admin commands: the files it makes
// load as service identities with their roles, and a bad --tls.* set is a usage error naming
// the option.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTls, useTls } from '@hawser/proto';
import { runCli } from './main';
import { bufferIo } from './io';

const dir = mkdtempSync(join(tmpdir(), 'hawser-cli-certs-'));
after(() => { useTls(null); rmSync(dir, { recursive: true, force: true }); });

test('hawser certs: a CA and one certificate per service with its role; keys mode 600; the CA is reused', async () => {
  const io = bufferIo();
  const code = await runCli(['certs', dir, '--stores', 's1,s2', '--coordinators', 'c1', '--gateways', 'g1', '--bridges', 'b1', '--admins', 'ops', '--json'], io);
  assert.equal(code, 0, io.stderr());
  const out = JSON.parse(io.stdout()) as { ca: string; certs: Array<{ role: string; name: string; cert: string; key: string }> };
  assert.deepEqual(out.certs.map((c) => `${c.role}/${c.name}`), ['store/s1', 'store/s2', 'coordinator/c1', 'gateway/g1', 'bridge/b1', 'admin/ops']);
  for (const c of out.certs) {
    assert.deepEqual(loadTls({ ca: out.ca, cert: c.cert, key: c.key })!.identity, { role: c.role, name: c.name });
    assert.equal(statSync(c.key).mode & 0o777, 0o600);
  }
  const caBefore = statSync(out.ca).mtimeMs;
  assert.equal(await runCli(['certs', dir, '--stores', 's3'], bufferIo()), 0);
  assert.equal(statSync(out.ca).mtimeMs, caBefore, 'the existing CA signs the new certificate');
  assert.deepEqual(loadTls({ ca: out.ca, cert: join(dir, 'store-s3.pem'), key: join(dir, 'store-s3-key.pem') })!.identity, { role: 'store', name: 's3' });
  const none = bufferIo();
  assert.equal(await runCli(['certs', dir], none), 2);
  assert.match(none.stderr(), /name at least one service/);
});

test('--tls.*: an incomplete or mismatched set is a usage error naming the option', async () => {
  const io = bufferIo();
  assert.equal(await runCli(['status', '--store', '127.0.0.1:1', '--tls.ca', join(dir, 'ca.pem'), '--tls.cert', join(dir, 'admin-ops.pem')], io), 2);
  assert.match(io.stderr(), /--tls\.key: mutual TLS needs tls\.ca, tls\.cert and tls\.key together/);
  const io2 = bufferIo();
  assert.equal(await runCli(['purge', '/queue/x', '--store', '127.0.0.1:1', '--tls.ca', join(dir, 'ca.pem'), '--tls.cert', join(dir, 'admin-ops.pem'), '--tls.key', join(dir, 'store-s1-key.pem')], io2), 2);
  assert.match(io2.stderr(), /--tls\.key: .* is not the private key of/);
});
