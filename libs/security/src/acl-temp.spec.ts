// The authorization map's `temp` kind: ActiveMQ's tempDestinationAuthorizationEntry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthorizationMap, AclSyntaxError } from './acl';

const app = { login: 'ann', groups: ['app'] };
const guest = { login: 'gus', groups: ['guest'] };

test('no temp line: every session may use temp destinations (as ActiveMQ without the entry)', () => {
  const m = AuthorizationMap.parse('queue > app app app\n');
  for (const action of ['read', 'write', 'admin'] as const) {
    assert.equal(m.can(guest, action, '/temp-queue/gw:b-1/r'), true);
    assert.equal(m.can(guest, action, '/temp-topic/gw:b-1/r'), true);
  }
  assert.equal(m.can(guest, 'write', '/queue/x'), false, 'other kinds unchanged');
});

test('a temp line decides for every temp queue and topic; queue and topic lines do not apply to them', () => {
  const m = AuthorizationMap.parse('queue > * * *\ntemp > app,guest app app\n');
  assert.equal(m.can(guest, 'read', '/temp-queue/gw:b-1/r'), true);
  assert.equal(m.can(guest, 'write', '/temp-queue/gw:b-1/r'), false);
  assert.equal(m.can(guest, 'admin', '/temp-topic/gw:b-1/r'), false);
  assert.equal(m.can(app, 'admin', '/temp-topic/gw:b-1/r.x.y'), true);
});

test('a temp line takes the pattern > only', () => {
  assert.throws(() => AuthorizationMap.parse('temp replies.> app app app\n', 'acl'), (e: unknown) =>
    e instanceof AclSyntaxError && /acl:1: a temp entry covers every temporary destination: its pattern must be >/.test(e.message));
  assert.throws(() => AuthorizationMap.parse('tmp > a a a\n'), /kind must be queue, topic or temp/);
});
