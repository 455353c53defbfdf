// Clients' authentication and authorization with real processes: a store with an
// authorization map (authorization.file) serving clients through its embedded gateway and
// through a separate gateway, both with a users file (scrypt hashes) and anonymous access off.
//   - a wrong password is refused;
//   - a SEND without write permission gets an ERROR and nothing is stored;
//   - a durable subscription cannot be taken by another user with the same client-id.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashPassword } from '@hawser/security';
import { Harness, httpGet, type Gateway, type Store } from './harness';
import { Clients, drain, unique } from './support';

// Cheap scrypt parameters keep the test quick; format and code path are the real ones.
const CHEAP = { log2N: 10, r: 8, p: 1 };

describe('client authentication and authorization', { timeout: 120_000 }, () => {
  const h = new Harness('auth');
  let store: Store;
  let gateway: Gateway;
  const clients = new Clients(() => gateway.stompUri);

  before(async () => {
    const users = join(h.root, 'users.properties');
    const groups = join(h.root, 'groups.properties');
    const acl = join(h.root, 'authorization');
    writeFileSync(users, [
      `ann=${await hashPassword('ann-pw', CHEAP)}`,
      `eve=${await hashPassword('eve-pw', CHEAP)}`,
    ].join('\n'));
    writeFileSync(groups, 'shop=ann\naudit=eve\n');
    writeFileSync(acl, [
      '# kind pattern read write admin',
      'queue orders.> shop,audit shop -',
      'topic prices   shop,audit shop -',
    ].join('\n'));
    const auth = (prefix: string) => [`--${prefix}auth.usersFile`, users, `--${prefix}auth.groupsFile`, groups, `--${prefix}auth.anonymous`, 'false'];
    store = await h.startStore({ args: ['--authorization.file', acl, '--gateway.enabled', 'true', '--gateway.stomp.port', '0', '--gateway.ws.port', '0', ...auth('gateway.')] });
    gateway = await h.startGateway(store, { args: auth('') });
  });
  afterEach(async (t) => {
    h.reportIfFailed(t);
    await clients.closeAll();
  });
  after(() => h.close());

  for (const home of ['separate gateway', 'embedded gateway'] as const) {
    const uri = () => (home === 'separate gateway' ? gateway.stompUri : store.stompUri);

    it(`${home}: a wrong password and a missing login are refused`, async () => {
      await assert.rejects(clients.connect({ login: 'ann', passcode: 'wrong' }, uri()), /login failed/);
      await assert.rejects(clients.connect({}, uri()), /anonymous access is off/);
      const ok = await clients.connect({ login: 'ann', passcode: 'ann-pw' }, uri());
      await ok.send(unique('/queue/orders.ok'), 'fine', { persistent: true });
    });

    it(`${home}: a SEND without write permission gets an ERROR and nothing is stored`, async () => {
      const q = unique('/queue/orders.eu');
      const eve = await clients.connect({ login: 'eve', passcode: 'eve-pw' }, uri());
      await assert.rejects(eve.send(q, 'forged', { persistent: true }), /FORBIDDEN: user 'eve' may not write to \/queue\/orders\.eu/);
      const ann = await clients.connect({ login: 'ann', passcode: 'ann-pw' }, uri());
      await ann.send(q, 'real', { persistent: true });
      const sub = await ann.subscribe(q, { ack: 'client-individual' });
      const got = await drain(sub, 500);
      assert.deepEqual(got.map((m) => m.text), ['real'], 'only the permitted message was stored');
      for (const m of got) await m.ack();
      // eve may read the queue (audit has read) but not a destination no entry grants.
      const reader = await clients.connect({ login: 'eve', passcode: 'eve-pw' }, uri());
      await assert.rejects(reader.subscribe('/queue/payroll', { receipt: true }), /FORBIDDEN: user 'eve' may not read from \/queue\/payroll/);
    });
  }

  it('a durable subscription belongs to its maker: another user with the same client-id cannot take it', async () => {
    const cid = unique('cid');
    const ann = await clients.connect({ login: 'ann', passcode: 'ann-pw', clientId: cid });
    const sub = await ann.subscribe('/topic/prices', { durableName: 'watch', receipt: true });
    await sub.unsubscribe({ removeDurable: false }).catch(() => undefined);
    await ann.disconnect();
    const producer = await clients.connect({ login: 'ann', passcode: 'ann-pw' });
    await producer.send('/topic/prices', 'kept for ann', { persistent: true });
    const eve = await clients.connect({ login: 'eve', passcode: 'eve-pw', clientId: cid }, store.stompUri);
    await assert.rejects(eve.subscribe('/topic/prices', { durableName: 'watch', receipt: true }), /FORBIDDEN: durable subscription 'watch' of client '.*' belongs to another user/);
    const back = await clients.connect({ login: 'ann', passcode: 'ann-pw', clientId: cid });
    const again = await back.subscribe('/topic/prices', { durableName: 'watch', ack: 'client-individual' });
    const m = await again.next(10_000);
    assert.equal(m.text, 'kept for ann');
    await m.ack();
    const metrics = (await httpGet(store.httpPort, '/metrics')).body;
    assert.match(metrics, /hawser_store_forbidden_total\{[^}]*action="write"[^}]*\} [1-9]/);
  });
});
