// `hawser delete`: asks before it deletes (or --yes), and nothing reaches the store otherwise;
// against an in-process Admin service: the request it makes, its output, and a refusal (IN_USE)
// as one line with exit 1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { adminService, grpc, type DeleteReply, type DeleteRequest } from '@hawser/proto';
import { runCli } from './main';
import { bufferIo } from './io';

/** stdin as a terminal would be, answering `answer`. */
function tty(answer: string): Readable {
  return Object.assign(Readable.from([Buffer.from(answer)]), { isTTY: true });
}

let server: grpc.Server;
let address = '';
const asked: string[] = [];

before(async () => {
  server = new grpc.Server();
  server.addService(adminService().service, {
    Delete: (call: grpc.ServerUnaryCall<DeleteRequest, DeleteReply>, cb: grpc.sendUnaryData<DeleteReply>) => {
      asked.push(call.request.destination);
      if (call.request.destination === '/queue/busy') {
        cb(Object.assign(new Error("IN_USE: queue '/queue/busy' has 2 consumers: close its 2 consumers first, then delete it"), { code: grpc.status.FAILED_PRECONDITION }));
      } else cb(null, { removed: call.request.destination === '/queue/a' ? 3 : 0 });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  address = `127.0.0.1:${port}`;
});
after(() => server.forceShutdown());

test('without --yes and without a terminal: a usage error, nothing deleted', async () => {
  const io = bufferIo(Readable.from([Buffer.from('y\n')]));
  assert.equal(await runCli(['delete', '/queue/a', '--store', address], io), 2);
  assert.match(io.stderr(), /^hawser delete: deleting \/queue\/a cannot be undone: pass --yes to confirm \(stdin is not a terminal to ask on\)/);
  assert.deepEqual(asked, []);
});

test('on a terminal it asks: anything but y/yes deletes nothing (exit 1); yes deletes', async () => {
  const no = bufferIo(tty('n\n'));
  assert.equal(await runCli(['delete', '/queue/a', '--store', address], no), 1);
  assert.match(no.stderr(), /^Delete \/queue\/a and every message waiting on it\? This cannot be undone\. \[y\/N\] /);
  assert.match(no.stderr(), /\/queue\/a not deleted: not confirmed/);
  const empty = bufferIo(tty(''));
  assert.equal(await runCli(['delete', '/queue/a', '--store', address], empty), 1);
  assert.deepEqual(asked, []);

  const yes = bufferIo(tty('yes\n'));
  assert.equal(await runCli(['delete', '/queue/a', '--store', address], yes), 0, yes.stderr());
  assert.equal(yes.stdout(), 'deleted /queue/a and 3 messages\n');
  assert.deepEqual(asked.splice(0), ['/queue/a']);
});

test('--yes deletes at once; --json; a refusal is one line, exit 1', async () => {
  const io = bufferIo();
  assert.equal(await runCli(['delete', '/topic/old', '--store', address, '--yes', '--json'], io), 0, io.stderr());
  assert.deepEqual(JSON.parse(io.stdout()), { destination: '/topic/old', removed: 0 });
  const busy = bufferIo();
  assert.equal(await runCli(['delete', '/queue/busy', '--store', address, '--yes'], busy), 1);
  assert.equal(busy.stderr(), `hawser delete: the store at ${address}: FAILED_PRECONDITION: IN_USE: queue '/queue/busy' has 2 consumers: close its 2 consumers first, then delete it\n`);
  assert.deepEqual(asked.splice(0), ['/topic/old', '/queue/busy']);
});
