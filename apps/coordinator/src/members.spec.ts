// The coordinator's links to stores: a channel that failed while its store was down is not
// reused (grpc-js would fail every call at once until its reconnect backoff ends).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { grpc } from '@hawser/proto';
import { Links, MemberCallError } from './members';

test('a call after the store came back goes over a new channel, not the one in reconnect backoff', async () => {
  const port = await new Promise<number>((resolve) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => { const p = (probe.address() as { port: number }).port; probe.close(() => resolve(p)); });
  });
  const address = `127.0.0.1:${port}`;
  const links = new Links();
  const accepted: Socket[] = [];
  const srv = createServer((sock) => { accepted.push(sock); });
  try {
    // Nothing listens: the call fails and the channel is left failed.
    const failed = links['client']('admin', address);
    await assert.rejects(links.status(address, 2000), MemberCallError);
    assert.equal(failed.getChannel().getConnectivityState(false), grpc.connectivityState.TRANSIENT_FAILURE);
    const again = links['client']('admin', address);
    assert.notEqual(again, failed, 'a failed channel is replaced');
    assert.equal(links['client']('admin', address), again, 'a channel that has not failed is kept');
    await new Promise<void>((r) => srv.listen(port, '127.0.0.1', () => r()));
    // The new channel reaches the store that came back (it is not gRPC here: the call fails
    // later, but a connection is made now).
    void links.status(address, 1000).catch(() => undefined);
    const deadline = Date.now() + 5000;
    while (accepted.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(accepted.length >= 1, 'connected to the store that came back');
  } finally {
    links.close?.();
    for (const s of accepted) s.destroy();
    srv.close();
  }
});
