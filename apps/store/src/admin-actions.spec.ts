// Admin.Send and Admin.Move (admin-actions.ts) on a real store over gRPC.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@hawser/config';
import { createLogger, createRegistry } from '@hawser/observability';
import { adminService, CHANNEL_OPTIONS, grpc, type DestinationsReply, type MoveReply, type SendReply } from '@hawser/proto';
import { schema, validate } from './config';
import { Store } from './store';
import { adminBrowse as browse, adminCall as call, type AdminClient as Admin } from './testing';

async function startStore(dir: string, extra: string[] = []): Promise<Store> {
  const config = validate(loadConfig(schema, { argv: ['--node.id', 's1', '--group', 'g1', '--node.dataDir', join(dir, 'data'), '--grpc.port', '0', ...extra], env: {} }).config);
  const store = new Store({ config, log: createLogger({ service: 'store', level: 'warn' }), registry: createRegistry('store') });
  await store.start();
  return store;
}

const depth = async (admin: Admin, name: string) => (await call<DestinationsReply>(admin, 'Destinations', { prefix: '' })).destinations.find((d) => d.name === name)?.depth ?? 0;

test('Admin.Send stores one message (journaled: it survives a restart); Admin.Move takes the DLQ back to each originalDestination', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hawser-admin-actions-'));
  let store = await startStore(dir);
  const open = () => new (adminService())(`127.0.0.1:${store.grpcPort}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS) as unknown as Admin;
  let admin = open();
  try {
    const sent = await call<SendReply>(admin, 'Send', { destination: '/queue/orders', headers: { k: 'v' }, body: Buffer.from('hello'), persistent: true, login: '', groups: [] });
    assert.match(sent.id, /^ID:admin-/);
    assert.equal(await depth(admin, '/queue/orders'), 1);
    await assert.rejects(call(admin, 'Send', { destination: 'orders', body: Buffer.from('x'), persistent: true }), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT);

    // Two dead letters that know where they came from, one that does not.
    for (const [body, from] of [['a', '/queue/orders'], ['b', '/queue/payments'], ['c', '']] as const) {
      await call(admin, 'Send', { destination: '/queue/ActiveMQ.DLQ', headers: from ? { originalDestination: from, dlqDeliveryFailureCause: 'poison' } : {}, body: Buffer.from(body), persistent: true });
    }
    const moved = await call<MoveReply>(admin, 'Move', { from: '/queue/ActiveMQ.DLQ', to: '', limit: 0 });
    assert.deepEqual({ moved: moved.moved, skipped: moved.skipped }, { moved: 2, skipped: 1 });
    assert.equal(await depth(admin, '/queue/ActiveMQ.DLQ'), 1, 'the one without a target stays');
    assert.equal(await depth(admin, '/queue/orders'), 2);
    assert.equal(await depth(admin, '/queue/payments'), 1);
    const back = (await browse(admin, '/queue/orders')).find((m) => Buffer.from(m.body).toString() === 'a')!;
    assert.equal(back.headers.originalDestination, undefined, 'the DLQ headers stay behind');
    assert.equal(back.headers.dlqDeliveryFailureCause, undefined);
    assert.ok(back.headers.originalMessageId);
    // An explicit target takes the rest.
    const rest = await call<MoveReply>(admin, 'Move', { from: '/queue/ActiveMQ.DLQ', to: '/queue/retry', limit: 0 });
    assert.equal(rest.moved, 1);

    admin.close();
    await store.stop();
    store = await startStore(dir);
    admin = open();
    assert.equal(await depth(admin, '/queue/orders'), 2, 'sent and moved messages were journaled');
    assert.equal(await depth(admin, '/queue/retry'), 1);
    assert.equal(await depth(admin, '/queue/ActiveMQ.DLQ'), 0, 'moved messages were acked on the DLQ');
  } finally {
    admin.close();
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Admin.Send and Move run as the principal they name: the authorization map refuses what it does not grant', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hawser-admin-actions-'));
  writeFileSync(join(dir, 'acl'), 'queue > admins admins admins\n');
  const store = await startStore(dir, ['--authorization.file', join(dir, 'acl')]);
  const admin = new (adminService())(`127.0.0.1:${store.grpcPort}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS) as unknown as Admin;
  try {
    await assert.rejects(call(admin, 'Send', { destination: '/queue/x', body: Buffer.from('x'), persistent: true, login: 'eve', groups: ['audit'] }),
      (e: grpc.ServiceError) => e.code === grpc.status.PERMISSION_DENIED && /FORBIDDEN/.test(e.details));
    await call(admin, 'Send', { destination: '/queue/x', body: Buffer.from('x'), persistent: true, login: 'ann', groups: ['admins'] });
    assert.equal(await depth(admin, '/queue/x'), 1);
  } finally {
    admin.close();
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
