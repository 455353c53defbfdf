import { test } from 'node:test';
import assert from 'node:assert/strict';
import { grpc, topologyService, SERVER_OPTIONS, type TopologySnapshot, type GroupInfo } from '@hawser/proto';
import { createLogger } from '@hawser/observability';
import { TopologyMasters, parseStores } from './masters';
import { checkFor } from './testkit';

const log = createLogger({ service: 'bridge-spec', level: 'silent' });
const group = (name: string, addr: string, epoch: number, state = 'ok'): GroupInfo => ({ name, state, epoch, masterId: addr ? `n-${addr}` : '', masterAddress: addr, replicas: 3, members: [], message: '' });
const snap = (version: number, groups: GroupInfo[]): TopologySnapshot => ({ version, groups, coordinators: [], gateways: [] });

test('parseStores', () => {
  assert.deepEqual(parseStores(['g1=127.0.0.1:1', 'g2 = 127.0.0.1:2']), { g1: '127.0.0.1:1', g2: '127.0.0.1:2' });
  assert.throws(() => parseStores(['g1']));
});

test('TopologyMasters follows each linked group over a real Topology.Watch stream', async () => {
  const server = new grpc.Server(SERVER_OPTIONS);
  const streams: Array<grpc.ServerWritableStream<unknown, TopologySnapshot>> = [];
  server.addService(topologyService().service, {
    Watch: (call: grpc.ServerWritableStream<unknown, TopologySnapshot>) => {
      streams.push(call);
      call.write(snap(1, [group('g1', '127.0.0.1:1001', 1), group('g2', '', 0, 'electing'), group('other', '127.0.0.1:9', 1)]));
    },
    Get: (_c: unknown, cb: grpc.sendUnaryData<TopologySnapshot>) => cb(null, snap(1, [])),
    ReportMasterLost: (_c: unknown, cb: grpc.sendUnaryData<{ accepted: boolean }>) => cb(null, { accepted: true }),
  });
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  const m = new TopologyMasters([`127.0.0.1:${port}`], ['g1', 'g2'], log);
  const changes: string[] = [];
  m.onChange((g, master) => changes.push(`${g}=${master?.address ?? 'none'}`));
  try {
    m.start();
    await checkFor(5_000, 20, () => assert.equal(m.master('g1')?.address, '127.0.0.1:1001'));
    assert.equal(m.master('g2'), undefined);
    assert.match(m.describe('g2'), /electing/);
    streams[0]!.write(snap(2, [group('g1', '127.0.0.1:1002', 2), group('g2', '127.0.0.1:2001', 1)]));
    await checkFor(5_000, 20, () => assert.equal(m.master('g2')?.address, '127.0.0.1:2001'));
    assert.equal(m.master('g1')?.epoch, 2);
    assert.deepEqual(changes, ['g1=127.0.0.1:1001', 'g1=127.0.0.1:1002', 'g2=127.0.0.1:2001']);
  } finally {
    m.stop();
    for (const s of streams) s.end();
    await new Promise<void>((r) => server.tryShutdown(() => r()));
  }
});
