// `hawser sessions`: the store's Admin.Sessions against an in-process Admin service — the
// request it makes (--destination), one table line per subscription, --json, no sessions.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { adminService, grpc, type SessionInfo, type SessionsReply, type SessionsRequest } from '@hawser/proto';
import { runCli } from './main';
import { bufferIo } from './io';
import { sessionsTable } from './admin';

const GHOST: SessionInfo = {
  id: 's1-7', connectionId: 'gw1:mxc2-3', clientId: '', login: '', gateway: 'gw1', via: 'sessions', peer: 'ipv4:10.0.0.5:40112',
  network: false, openedAt: Date.UTC(2026, 11, 6, 20, 0, 0), inflight: 20, paused: false, closed: false,
  subscriptions: [{ id: 'chaos', destination: '/queue/q', queue: '/queue/q', ackMode: 'client-individual', prefetch: 20, inflight: 20, durable: false }],
};
const BARE: SessionInfo = { ...GHOST, id: 's1-9', connectionId: 's1:mxc2-1', gateway: 's1', via: 'local', peer: '', inflight: 0, subscriptions: [] };

let server: grpc.Server;
let address = '';
const asked: string[] = [];

before(async () => {
  server = new grpc.Server();
  server.addService(adminService().service, {
    Sessions: (call: grpc.ServerUnaryCall<SessionsRequest, SessionsReply>, cb: grpc.sendUnaryData<SessionsReply>) => {
      asked.push(call.request.destination);
      cb(null, { sessions: call.request.destination === '/queue/none' ? [] : [GHOST, BARE] });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  address = `127.0.0.1:${port}`;
});
after(() => server.forceShutdown());

test('sessions table: one line per subscription; a session without one shows its own in-flight count', () => {
  const lines = sessionsTable({ sessions: [GHOST, BARE] }).split('\n');
  assert.match(lines[0]!, /^SESSION\s+CONNECTION\s+GATEWAY\s+VIA\s+CLIENT-ID\s+OPENED\s+SUBSCRIPTION\s+ACK\s+PREFETCH\s+INFLIGHT\s+STATE$/);
  assert.match(lines[1]!, /^s1-7\s+gw1:mxc2-3\s+gw1\s+sessions ipv4:10\.0\.0\.5:40112\s+-\s+2026-12-06T20:00:00\.000Z\s+chaos \/queue\/q\s+client-individual\s+20\s+20\s+-$/);
  assert.match(lines[2]!, /^s1-9\s+s1:mxc2-1\s+s1\s+local\s+-\s+2026-12-06T20:00:00\.000Z\s+-\s+-\s+-\s+0\s+-$/);
});

test('hawser sessions --destination asks for it; --json prints the reply; none: "no sessions"', async () => {
  const io = bufferIo();
  assert.equal(await runCli(['sessions', '--store', address, '--destination', '/queue/q'], io), 0, io.stderr());
  assert.match(io.stdout(), /gw1:mxc2-3/);
  const json = bufferIo();
  assert.equal(await runCli(['sessions', '--store', address, '--json'], json), 0, json.stderr());
  const doc = JSON.parse(json.stdout()) as SessionsReply;
  assert.deepEqual(doc.sessions.map((s) => [s.connectionId, s.gateway, s.via, s.subscriptions.length]), [['gw1:mxc2-3', 'gw1', 'sessions', 1], ['s1:mxc2-1', 's1', 'local', 0]]);
  const none = bufferIo();
  assert.equal(await runCli(['sessions', '--store', address, '--destination', '/queue/none'], none), 0);
  assert.equal(none.stdout(), 'no sessions\n');
  assert.deepEqual(asked, ['/queue/q', '', '/queue/none']);
});
