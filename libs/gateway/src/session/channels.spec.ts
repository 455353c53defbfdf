// Channels connect ahead to the group's members the topology names, so a session moved to a
// new master after an election does not wait for TCP, TLS and HTTP/2 first.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { createLogger } from '@hawser/observability';
import type { TopologySnapshot } from '@hawser/proto';
import { checkFor } from '../testkit';
import { Channels } from './channels';
import { TopologyFollower } from './masters';
import { GrpcChannels } from './grpc-channel';
import { grpc } from '@hawser/proto';

const quiet = createLogger({ service: 'channels-test', level: 'silent' });

describe('Channels.warm from the topology', () => {
  it('every member but this node\'s own gets a connection before any session opens', async () => {
    const accepted: string[] = [];
    const sockets: Socket[] = [];
    const servers = await Promise.all([0, 1].map((i) => new Promise<{ address: string; close: () => void }>((resolve) => {
      const srv = createServer((sock) => { accepted.push(`m${i}`); sockets.push(sock); });
      srv.listen(0, '127.0.0.1', () => {
        const port = (srv.address() as { port: number }).port;
        resolve({ address: `127.0.0.1:${port}`, close: () => srv.close() });
      });
    })));
    const local = { address: '127.0.0.1:1', serving: true } as unknown as ConstructorParameters<typeof Channels>[0];
    const channels = new Channels(local);
    const follower = new TopologyFollower({ coordinators: ['127.0.0.1:9'], group: 'g1', log: quiet, onMembers: (a) => channels.warm(a) });
    try {
      follower.apply({
        groups: [{
          name: 'g1', state: 'ok', epoch: 3, masterId: 's1', masterAddress: servers[0]!.address, replicas: 3, message: '',
          members: [{ id: 's1', address: servers[0]!.address }, { id: 's2', address: servers[1]!.address }, { id: 's3', address: '127.0.0.1:1' }],
        }],
      } as unknown as TopologySnapshot);
      await checkFor('both remote members connected, no session opened', () => accepted.length >= 2 || undefined, 5000);
      assert.deepEqual([...new Set(accepted)].sort(), ['m0', 'm1']);
      // Another snapshot does not open more connections to members already connected.
      follower.apply({ groups: [{ name: 'g1', state: 'ok', epoch: 3, masterId: 's1', masterAddress: servers[0]!.address, replicas: 3, message: '', members: [{ id: 's1', address: servers[0]!.address }, { id: 's2', address: servers[1]!.address }] }] } as unknown as TopologySnapshot);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(accepted.length, 2);
    } finally {
      follower.stop();
      channels.close();
      for (const s of sockets) s.destroy();
      for (const s of servers) s.close();
    }
  });
});

describe('GrpcChannels: a failed channel nobody uses is replaced', () => {
  it('warm() after the store there came back gets a new channel instead of waiting out the reconnect backoff', async () => {
    // Nothing listens yet: the channel fails (TRANSIENT_FAILURE) and grpc-js would back off.
    const port = await new Promise<number>((resolve) => {
      const probe = createServer();
      probe.listen(0, '127.0.0.1', () => { const p = (probe.address() as { port: number }).port; probe.close(() => resolve(p)); });
    });
    const address = `127.0.0.1:${port}`;
    const channels = new GrpcChannels();
    const accepted: Socket[] = [];
    const srv = createServer((sock) => { accepted.push(sock); });
    try {
      channels.warm(address);
      await checkFor('the channel failed', () => channels.state(address) === grpc.connectivityState.TRANSIENT_FAILURE || undefined, 5000);
      const failed = channels['streams'].get(address);
      await new Promise<void>((r) => srv.listen(port, '127.0.0.1', () => r()));
      channels.warm(address);
      assert.notEqual(channels['streams'].get(address), failed, 'a new channel, not the one in backoff');
      await checkFor('the store that came back is connected', () => accepted.length >= 1 || undefined, 5000);
      // A channel that is not failed is kept as it is.
      const current = channels['streams'].get(address);
      channels.warm(address);
      assert.equal(channels['streams'].get(address), current);
    } finally {
      channels.close();
      for (const s of accepted) s.destroy();
      srv.close();
    }
  });
});
