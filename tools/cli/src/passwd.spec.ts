import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { verifyPassword } from '@hawser/security';
import { runCli } from './main';
import { bufferIo } from './io';

test('passwd: prints login=<scrypt hash> for the password on stdin, which verifies', async () => {
  const io = bufferIo(Readable.from([Buffer.from('s3cret\n')]));
  assert.equal(await runCli(['passwd', 'ann', '--cost', '10'], io), 0);
  const line = io.stdout().trim();
  const login = line.slice(0, line.indexOf('='));
  assert.equal(login, 'ann');
  assert.equal(await verifyPassword(line.slice(line.indexOf('=') + 1), 's3cret'), true);
});

test('passwd: an empty stdin or a bad login is a usage error', async () => {
  const empty = bufferIo(Readable.from([Buffer.from('')]));
  assert.equal(await runCli(['passwd', 'ann'], empty), 2);
  assert.match(empty.stderr(), /no password on stdin/);
  const bad = bufferIo(Readable.from([Buffer.from('pw\n')]));
  assert.equal(await runCli(['passwd', 'a=b'], bad), 2);
  assert.match(bad.stderr(), /no spaces, '='/);
});
