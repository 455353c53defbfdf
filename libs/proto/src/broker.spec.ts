import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as protoLoader from '@grpc/proto-loader';
import { join } from 'node:path';
import type { MuxEvents, MuxRequests, SessionRequests } from './broker';
import { brokerService, adminService, memberService, topologyService, replicationService, protoDir, LOADER_OPTIONS } from './index';

test('broker and admin services load from proto/', () => {
  const Broker = brokerService();
  assert.ok(Broker.service.Session, 'Broker.Session exists');
  assert.equal(Broker.service.Session.requestStream, true);
  assert.equal(Broker.service.Session.responseStream, true);
  const Admin = adminService();
  for (const m of ['Destinations', 'Purge', 'Browse', 'Status']) assert.ok(Admin.service[m], m);
  for (const m of ['Prepare', 'Assign']) assert.ok(memberService().service[m], m);
  for (const m of ['Watch', 'Get', 'ReportMasterLost']) assert.ok(topologyService().service[m], m);
  assert.equal(replicationService().service.Stream!.requestStream, true);
  assert.equal(replicationService().service.Snapshot!.responseStream, true);
});

test('a SessionRequests batch round-trips with the loader options', () => {
  const def = protoLoader.loadSync(join(protoDir(), 'hawser', 'broker.proto'), { ...LOADER_OPTIONS, includeDirs: [protoDir()] });
  const method = (def['hawser.broker.v1.Broker'] as protoLoader.ServiceDefinition).Session;
  const batch = {
    items: [
      { requestId: 7, send: { message: { id: 'm1', destination: '/queue/a', headers: { k: 'v' }, body: Buffer.from([0, 1, 2]), persistent: true, priority: 9, expires: 2 ** 40, timestamp: 1 }, transaction: '' } },
      { requestId: 0, ack: { deliveryTag: 42, transaction: 'tx1' } },
    ],
  };
  const bytes = method.requestSerialize(batch);
  const back = method.requestDeserialize(bytes) as SessionRequests & { items: any[] };
  assert.equal(back.items.length, 2);
  assert.equal(back.items[0].kind, 'send');
  assert.equal(back.items[0].requestId, 7);
  assert.deepEqual(back.items[0].send.message.headers, { k: 'v' });
  assert.deepEqual([...back.items[0].send.message.body], [0, 1, 2]);
  assert.equal(back.items[0].send.message.expires, 2 ** 40);
  assert.equal(back.items[1].kind, 'ack');
  assert.equal(back.items[1].ack.deliveryTag, 42);
});

test('a MuxRequests / MuxEvents batch round-trips: sessions, requests, events and ends', () => {
  const def = protoLoader.loadSync(join(protoDir(), 'hawser', 'broker.proto'), { ...LOADER_OPTIONS, includeDirs: [protoDir()] });
  const method = (def['hawser.broker.v1.Broker'] as protoLoader.ServiceDefinition).Sessions;
  assert.equal(method.requestStream, true);
  assert.equal(method.responseStream, true);
  const req = method.requestDeserialize(method.requestSerialize({
    items: [
      { session: 3, request: { requestId: 1, open: { connectionId: 'c', clientId: '', login: '', gateway: 'gw' } } },
      { session: 4, request: { requestId: 2, send: { message: { id: 'm', destination: '/queue/q', headers: {}, body: Buffer.from('x'), persistent: true, priority: 4, expires: 0, timestamp: 0 }, transaction: '' } } },
      { session: 3, end: true },
    ],
  })) as MuxRequests & { items: any[] };
  assert.deepEqual(req.items.map((i) => [i.session, i.request?.kind ?? null, i.end]), [[3, 'open', false], [4, 'send', false], [3, null, true]]);
  const ev = method.responseDeserialize(method.responseSerialize({
    items: [
      { session: 4, event: { receipt: { requestId: 2 } } },
      { session: 3, event: { error: { requestId: 0, code: 'NOT_MASTER', message: 'go away', fatal: true } } },
      { session: 3, end: true },
    ],
  })) as MuxEvents & { items: any[] };
  assert.deepEqual(ev.items.map((i) => [i.session, i.event?.kind ?? null, i.end]), [[4, 'receipt', false], [3, 'error', false], [3, null, true]]);
  assert.equal(ev.items[1].event.error.code, 'NOT_MASTER');
});
