// `hawser status` against fake gRPC servers on 127.0.0.1 (real sockets, port 0): a fake
// coordinator serving Topology.Get, and a fake standalone store serving Admin.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import {
  adminService, grpc, topologyService,
  type DestinationsReply, type StatusReply, type TopologySnapshot, type WatchRequest,
} from '@hawser/proto';
import { runCli } from './main';
import { bufferIo } from './io';
import { connectionCounts, normalizeSnapshot, type StatusDocument } from './status';

const SNAPSHOT: TopologySnapshot = {
  version: 12,
  groups: [{
    name: 'g1', state: 'ok', epoch: 3, masterId: 's1', masterAddress: '127.0.0.1:61621', replicas: 3, message: '',
    members: [
      { id: 's1', address: '127.0.0.1:61621', role: 'master', epoch: 3, commitPosition: 1500, lastPosition: 1502, lagEntries: 0, lagSeconds: 0, pid: 101, weight: 1, httpPort: 8171 },
      { id: 's2', address: '127.0.0.1:61622', role: 'slave', epoch: 3, commitPosition: 1500, lastPosition: 1490, lagEntries: 12, lagSeconds: 0.25, pid: 102, weight: 1, httpPort: 8172 },
      { id: 's3', address: '127.0.0.1:61623', role: 'slave', epoch: 3, commitPosition: 1500, lastPosition: 1502, lagEntries: 0, lagSeconds: 0, pid: 103, weight: 1, httpPort: 8173 },
    ],
  }, {
    name: 'g2', state: 'no-quorum', epoch: 7, masterId: '', masterAddress: '', replicas: 3, members: [
      { id: 't1', address: '127.0.0.1:61631', role: 'candidate', epoch: 7, commitPosition: 10, lastPosition: 10, lagEntries: 0, lagSeconds: 0, pid: 201, weight: 1, httpPort: 0 },
    ],
    message: 'Not enough cluster members: 1 of 3 alive, quorum is 2',
  }],
  coordinators: [
    { id: 'c1', address: '127.0.0.1:61630', leader: true, pid: 301, httpPort: 8181 },
    { id: 'c2', address: '127.0.0.1:61640', leader: false, pid: 302, httpPort: 8182 },
  ],
  gateways: [
    { id: 'gw1', group: 'g1', stompPort: 61613, wsPort: 61614, httpPort: 8161, pid: 401, host: '127.0.0.1', node: '' },
    { id: 's1', group: 'g1', stompPort: 61651, wsPort: 61661, httpPort: 8171, pid: 101, host: '127.0.0.1', node: 's1' },
  ],
  bridges: [
    { id: 'br-a', link: 'g1-g2', active: true, pid: 501, host: 'host-a', httpPort: 8191, groups: ['g1', 'g2'] },
    { id: 'br-b', link: 'g1-g2', active: false, pid: 502, host: 'host-b', httpPort: 8192, groups: ['g1', 'g2'] },
  ],
};

async function serve(add: (s: grpc.Server) => void): Promise<{ server: grpc.Server; address: string }> {
  const server = new grpc.Server();
  add(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { server, address: `127.0.0.1:${port}` };
}

/** A port nothing listens on (bound, read, closed). */
function deadPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = bufferIo();
  const code = await runCli(argv, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

describe('hawser status with coordinators (fake Topology server)', () => {
  let coordinator: { server: grpc.Server; address: string };
  let failing: { server: grpc.Server; address: string };
  const requests: WatchRequest[] = [];

  before(async () => {
    coordinator = await serve((s) => s.addService(topologyService().service, {
      Get: (call: grpc.ServerUnaryCall<WatchRequest, TopologySnapshot>, cb: grpc.sendUnaryData<TopologySnapshot>) => {
        requests.push(call.request);
        cb(null, SNAPSHOT);
      },
      Watch: (call: grpc.ServerWritableStream<WatchRequest, TopologySnapshot>) => call.end(),
      ReportMasterLost: (_c: unknown, cb: grpc.sendUnaryData<{ accepted: boolean }>) => cb(null, { accepted: true }),
    }));
    failing = await serve((s) => s.addService(topologyService().service, {
      Get: (_call: unknown, cb: grpc.sendUnaryData<TopologySnapshot>) => cb({ code: grpc.status.INTERNAL, details: 'zookeeper session lost' }),
      Watch: (call: grpc.ServerWritableStream<WatchRequest, TopologySnapshot>) => call.end(),
      ReportMasterLost: (_c: unknown, cb: grpc.sendUnaryData<{ accepted: boolean }>) => cb(null, { accepted: true }),
    }));
  });
  after(() => {
    coordinator.server.forceShutdown();
    failing.server.forceShutdown();
  });

  it('--json prints the TopologySnapshot with its source', async () => {
    const r = await cli(['status', '--coordinators', coordinator.address, '--json']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.err, '');
    const doc = JSON.parse(r.out) as StatusDocument;
    assert.deepEqual(doc, { source: 'coordinator', address: coordinator.address, ...SNAPSHOT });
  });

  it('text: groups, members with lag, coordinators, gateways and bridges as tables', async () => {
    const r = await cli(['status', '--coordinators', coordinator.address]);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.split('\n');
    assert.equal(lines[0], `topology version 12 from coordinator ${coordinator.address}`);
    assert.ok(lines.includes('GROUP  STATE      EPOCH  REPLICAS  MASTER              MESSAGE'), r.out);
    assert.ok(lines.includes('g1     ok             3         3  s1 127.0.0.1:61621  -'), r.out);
    assert.ok(lines.includes('g2     no-quorum      7         3  -                   Not enough cluster members: 1 of 3 alive, quorum is 2'), r.out);
    assert.ok(lines.includes('GROUP  NODE  ROLE       EPOCH  COMMIT  LAST  LAG  LAG(S)  ADDRESS          PID'), r.out);
    assert.ok(lines.includes('g1     s2    slave          3    1500  1490   12   0.250  127.0.0.1:61622  102'), r.out);
    assert.ok(lines.includes('ID  ADDRESS          LEADER  HTTP  PID'), r.out);
    assert.ok(lines.includes('c1  127.0.0.1:61630  yes     8181  301'), r.out);
    assert.ok(lines.includes('ID   GROUP  NODE        HOST       STOMP     WS  HTTP  PID'), r.out);
    assert.ok(lines.includes('gw1  g1     (separate)  127.0.0.1  61613  61614  8161  401'), r.out);
    assert.ok(lines.includes('s1   g1     s1          127.0.0.1  61651  61661  8171  101'), r.out);
    const b = lines.indexOf('Bridges');
    assert.ok(b > 0, r.out);
    assert.deepEqual(lines.slice(b + 1, b + 4), [
      'LINK   ID    STATE    HOST    HTTP  PID',
      'g1-g2  br-a  active   host-a  8191  501',
      'g1-g2  br-b  standby  host-b  8192  502',
    ], r.out);
  });

  it('tries the coordinators in order: a dead one first is skipped', async () => {
    const dead = await deadPort();
    const r = await cli(['status', '--coordinators', `127.0.0.1:${dead},${coordinator.address}`, '--json', '--group', 'g1']);
    assert.equal(r.code, 0, r.err);
    assert.equal((JSON.parse(r.out) as StatusDocument).address, coordinator.address);
    assert.deepEqual(requests[requests.length - 1], { group: 'g1' });
  });

  it('no coordinator reachable: exit 3, one line', async () => {
    const [a, b] = [await deadPort(), await deadPort()];
    const r = await cli(['status', '--coordinators', `127.0.0.1:${a},127.0.0.1:${b}`, '--timeout', '2000']);
    assert.equal(r.code, 3);
    assert.equal(r.out, '');
    assert.match(r.err, new RegExp(`^hawser status: no coordinator answered: cannot reach coordinator at 127\\.0\\.0\\.1:${a}: .*ECONNREFUSED.*; cannot reach coordinator at 127\\.0\\.0\\.1:${b}: .*\\n$`));
    assert.equal(r.err.trim().split('\n').length, 1);
  });

  it('a coordinator answering with an error: exit 1 with its message', async () => {
    const r = await cli(['status', '--coordinators', failing.address]);
    assert.equal(r.code, 1);
    assert.equal(r.err, `hawser status: coordinator at ${failing.address}: INTERNAL: zookeeper session lost\n`);
  });

  it('a bad address is a usage error (exit 2)', async () => {
    const r = await cli(['status', '--coordinators', 'host:notaport']);
    assert.equal(r.code, 2);
    assert.match(r.err, /^hawser status: --coordinators: expected host:port, got 'host:notaport' \(see hawser status --help\)\n$/);
  });
});

describe('hawser status standalone (fake Admin server)', () => {
  let store: { server: grpc.Server; address: string };
  const status: StatusReply = { node: 's1', group: 'g1', role: 'standalone', epoch: 1, commitPosition: 42, lastPosition: 42, pid: 999, address: '127.0.0.1:61620' };
  const dests: DestinationsReply = { destinations: [{ name: '/queue/a', depth: 2, inflight: 1, consumers: 1, enqueued: 5, dequeued: 3, localConsumers: 1, networkConsumers: 0 }] };

  before(async () => {
    store = await serve((s) => s.addService(adminService().service, {
      Status: (_c: unknown, cb: grpc.sendUnaryData<StatusReply>) => cb(null, status),
      Destinations: (_c: unknown, cb: grpc.sendUnaryData<DestinationsReply>) => cb(null, dests),
      Purge: (_c: unknown, cb: grpc.sendUnaryData<{ removed: number }>) => cb(null, { removed: 0 }),
      Browse: (call: grpc.ServerWritableStream<unknown, unknown>) => call.end(),
    }));
  });
  after(() => store.server.forceShutdown());

  it('--json: a one-group topology plus destinations', async () => {
    const r = await cli(['status', '--store', store.address, '--json']);
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(r.out) as StatusDocument;
    assert.equal(doc.source, 'store');
    assert.equal(doc.address, store.address);
    assert.deepEqual(doc.coordinators, []);
    assert.deepEqual(doc.gateways, []);
    assert.deepEqual(doc.bridges, []);
    assert.deepEqual(doc.destinations, dests.destinations);
    assert.equal(doc.groups.length, 1);
    assert.deepEqual({ ...doc.groups[0], members: undefined }, {
      name: 'g1', state: 'ok', epoch: 1, masterId: 's1', masterAddress: '127.0.0.1:61620', replicas: 1, message: '', members: undefined,
    });
    assert.deepEqual(doc.groups[0]!.members, [{
      id: 's1', address: '127.0.0.1:61620', role: 'standalone', epoch: 1, commitPosition: 42, lastPosition: 42,
      lagEntries: 0, lagSeconds: 0, pid: 999, weight: 0, httpPort: 0,
    }]);
  });

  it('text', async () => {
    const r = await cli(['status', '--store', store.address]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^standalone store ${store.address}\n`));
    assert.match(r.out, /\ng1 +s1 +standalone +1 +42 +42 +0 +0\.000 +127\.0\.0\.1:61620 +999\n/);
    assert.match(r.out, /\nDestinations\nDESTINATION +DEPTH +INFLIGHT +CONSUMERS\n\/queue\/a +2 +1 +1\n/);
    assert.doesNotMatch(r.out, /Bridges/);
  });

  it('a member of a replicated group is not shown as a standalone master', async () => {
    const slave = await serve((x) => x.addService(adminService().service, {
      Status: (_c: unknown, cb: grpc.sendUnaryData<StatusReply>) => cb(null, { ...status, node: 'store-1', group: 'default', role: 'slave', epoch: 3 }),
      Destinations: (_c: unknown, cb: grpc.sendUnaryData<DestinationsReply>) => cb(null, { destinations: [] }),
      Purge: (_c: unknown, cb: grpc.sendUnaryData<{ removed: number }>) => cb(null, { removed: 0 }),
      Browse: (call: grpc.ServerWritableStream<unknown, unknown>) => call.end(),
    }));
    try {
      const r = await cli(['status', '--store', slave.address]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, new RegExp(`^store store-1 at ${slave.address}: slave of group default, not standalone — for the whole group: hawser status --coordinators host:port,...\n`));
      const j = JSON.parse((await cli(['status', '--store', slave.address, '--json'])).out) as StatusDocument;
      assert.deepEqual([j.groups[0]!.state, j.groups[0]!.masterId, j.groups[0]!.replicas], ['unknown', '', 0]);
      assert.match(j.groups[0]!.message, /^store store-1 is slave in epoch 3; ask the coordinators/);
    } finally {
      slave.server.forceShutdown();
    }
  });

  it('a store with an embedded gateway lists it among the gateways (its node, its ports)', async () => {
    const node = await serve((x) => x.addService(adminService().service, {
      Status: (_c: unknown, cb: grpc.sendUnaryData<StatusReply>) => cb(null, { ...status, stompPort: 61613, wsPort: 61614 }),
      Destinations: (_c: unknown, cb: grpc.sendUnaryData<DestinationsReply>) => cb(null, { destinations: [] }),
      Purge: (_c: unknown, cb: grpc.sendUnaryData<{ removed: number }>) => cb(null, { removed: 0 }),
      Browse: (call: grpc.ServerWritableStream<unknown, unknown>) => call.end(),
    }));
    try {
      const j = JSON.parse((await cli(['status', '--store', node.address, '--json'])).out) as StatusDocument;
      assert.deepEqual(j.gateways, [{ id: 's1', group: 'g1', host: '127.0.0.1', stompPort: 61613, wsPort: 61614, httpPort: 0, pid: 999, node: 's1' }]);
      const r = await cli(['status', '--store', node.address]);
      assert.match(r.out, /\nGateways\nID +GROUP +NODE +HOST +STOMP +WS +HTTP +PID\ns1 +g1 +s1 +127\.0\.0\.1 +61613 +61614 +- +999\n/);
    } finally {
      node.server.forceShutdown();
    }
  });

  it('store down: exit 3, one line', async () => {
    const port = await deadPort();
    const r = await cli(['status', '--store', `127.0.0.1:${port}`]);
    assert.equal(r.code, 3);
    assert.equal(r.err, `hawser status: cannot reach the store at 127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}\n`);
  });
});

describe('normalizeSnapshot', () => {
  it('a snapshot without bridges (a coordinator older than BridgeInfo) gets bridges: [], bridges get groups', () => {
    const n = normalizeSnapshot({ version: 3, groups: [], coordinators: [], gateways: [] });
    assert.deepEqual(n.bridges, []);
    const b = normalizeSnapshot({ bridges: [{ id: 'x', link: 'g1-g2', active: true, pid: 1, host: 'h', httpPort: 0 }] });
    assert.deepEqual(b.bridges, [{ id: 'x', link: 'g1-g2', active: true, pid: 1, host: 'h', httpPort: 0, groups: [] }]);
  });
});

describe('runCli boundaries', () => {
  it('no command: help and exit 2; --help: exit 0; unknown command: exit 2, one line', async () => {
    assert.equal((await cli([])).code, 2);
    const h = await cli(['--help']);
    assert.equal(h.code, 0);
    assert.match(h.out, /^Usage: hawser <command>/);
    const u = await cli(['frobnicate']);
    assert.equal(u.code, 2);
    assert.match(u.err, /^hawser: unknown command 'frobnicate' \(commands: send, receive, .*\) \(see hawser --help\)\n$/);
  });

  it('send to a port nobody listens on: exit 3, one line', async () => {
    const port = await deadPort();
    const r = await cli(['send', '/queue/a', 'x', '--uri', `stomp://127.0.0.1:${port}`]);
    assert.equal(r.code, 3);
    assert.equal(r.err, `hawser send: broker unreachable: could not connect to stomp://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}\n`);
  });

  it('a malformed URI is a usage error', async () => {
    const r = await cli(['receive', '/queue/a', '--uri', 'not a uri']);
    assert.equal(r.code, 2);
    assert.match(r.err, /^hawser receive: not a broker URI: 'not a uri'.*\(see hawser receive --help\)\n$/);
  });

  it('help for every command', async () => {
    for (const name of ['send', 'receive', 'browse', 'purge', 'destinations', 'status', 'bench', 'activemq']) {
      const r = await cli([name, '--help']);
      assert.equal(r.code, 0, name);
      assert.match(r.out, new RegExp(`^Usage: hawser ${name}`));
    }
  });

  it('bench: --count with --duration is a usage error', async () => {
    const r = await cli(['bench', '--count', '5', '--duration', '2']);
    assert.equal(r.code, 2);
    assert.match(r.err, /give --count or --duration, not both/);
  });
});

describe('connection counts of the gateways (hawser_gateway_connections)', () => {
  it('sums STOMP and MQTT listeners apart', () => {
    const page = [
      '# HELP hawser_gateway_connections open client connections',
      '# TYPE hawser_gateway_connections gauge',
      'hawser_gateway_connections{protocol="stomp",instance="gw1"} 3',
      'hawser_gateway_connections{protocol="ws",instance="gw1"} 1',
      'hawser_gateway_connections{protocol="stomp+ssl",instance="gw1"} 2',
      'hawser_gateway_connections{protocol="mqtt",instance="gw1"} 40',
      'hawser_gateway_connections{protocol="mqtts",instance="gw1"} 5',
      'hawser_gateway_connections{protocol="mqtt+ws",instance="gw1"} 2',
      'hawser_gateway_connections_total{protocol="mqtt",instance="gw1"} 99',
    ].join('\n');
    assert.deepEqual(connectionCounts(page), { stomp: 6, mqtt: 47 });
  });
});
