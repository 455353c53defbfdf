// StoreLink's back-pressure across session moves (docs/reliability.md D8): channels stand in
// for the masters' streams, so a test says when a stream is full, drains or fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Open } from '@hawser/proto';
import { createLogger, prom } from '@hawser/observability';
import { GatewayMetrics } from '../metrics';
import { ChannelError, type ChannelHandlers, type SessionChannel } from './channel';
import type { Channels } from './channels';
import { StoreLink } from './link';
import type { MasterInfo, MasterSource } from './masters';

const quiet = createLogger({ service: 'link-test', level: 'silent' });

class Masters implements MasterSource {
  readonly failover = true;
  readonly group = 'g1';
  master: MasterInfo | undefined;
  private readonly fns = new Set<(m: MasterInfo | undefined) => void>();
  describe(): string { return this.master ? `master ${this.master.id}` : 'no master'; }
  onChange(fn: (m: MasterInfo | undefined) => void): () => void { this.fns.add(fn); return () => this.fns.delete(fn); }
  stop(): void {}
  set(m: MasterInfo | undefined): void { this.master = m; for (const fn of this.fns) fn(m); }
}

interface Opened { address: string; handlers: ChannelHandlers; cancelled: boolean }

function rig() {
  const opened: Opened[] = [];
  const channels = {
    open(address: string, handlers: ChannelHandlers): SessionChannel {
      const o: Opened = { address, handlers, cancelled: false };
      opened.push(o);
      return { start() {}, request() {}, pause() {}, resume() {}, end() { o.cancelled = true; }, cancel() { o.cancelled = true; } };
    },
  } as unknown as Channels;
  const masters = new Masters();
  masters.master = { id: 'A', address: 'a:1', epoch: 1 };
  const reading: string[] = [];
  const link = new StoreLink({
    channels, source: masters, metrics: new GatewayMetrics(new prom.Registry()),
    openTimeoutMs: 60_000, maxWaitMs: 60_000, resendTimeoutMs: 60_000, maxWaitingFrames: 1_000,
  }, quiet, {
    onEvent: () => undefined, onFailure: () => undefined, onFatal: () => undefined,
    onBackpressure: () => reading.push('stop'), onDrain: () => reading.push('resume'),
  });
  link.open({ connectionId: 'c1', clientId: '', login: '', groups: [], gateway: 'gw' } as unknown as Open);
  return { link, masters, opened, reading };
}

test('a full stream\'s back-pressure ends when the session moves to another master: the client is read again', () => {
  const r = rig();
  const a = r.opened[0]!;
  a.handlers.onBackpressure!();
  a.handlers.onBackpressure!(); // every full write says it again: told once
  assert.deepEqual(r.reading, ['stop']);
  r.masters.set({ id: 'B', address: 'b:1', epoch: 2 });
  assert.equal(a.cancelled, true, 'the old session is left');
  assert.deepEqual(r.reading, ['stop', 'resume'], 'the moved session reads its client again');
  a.handlers.onDrain!(); // the old stream drains later (the old master came back): nothing to do
  assert.deepEqual(r.reading, ['stop', 'resume']);
  const b = r.opened[1]!;
  b.handlers.onBackpressure!();
  b.handlers.onDrain!();
  assert.deepEqual(r.reading, ['stop', 'resume', 'stop', 'resume'], 'the new stream\'s own back-pressure works as before');
  r.link.end();
});

test('a full stream that fails (master killed, stream lost) does not leave the client unread while the session waits', () => {
  const r = rig();
  const a = r.opened[0]!;
  a.handlers.onBackpressure!();
  a.handlers.onFailure(new ChannelError('read ECONNRESET'));
  assert.deepEqual(r.reading, ['stop', 'resume']);
  assert.equal(r.link.isWaiting, true);
  r.link.end();
});

test('after end() nothing more is said', () => {
  const r = rig();
  const a = r.opened[0]!;
  a.handlers.onBackpressure!();
  r.link.end();
  a.handlers.onDrain!();
  assert.deepEqual(r.reading, ['stop']);
});
