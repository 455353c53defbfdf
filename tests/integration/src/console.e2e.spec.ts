// The web console (apps/console) in a real browser: Debian's headless Chromium driven by
// playwright-core (no browser download), against a real replicated group — 3 stores, 2
// coordinators, a gateway, ZooKeeper — and the console process following the coordinators.
//
// - the cluster view shows the master and follows a kill -9 of it to the new one, live;
// - a queue's depth changes as messages are sent; browse shows a sent message; a test message
//   sent from the page arrives; purge (after its confirmation) empties the queue, delete (after
//   its confirmation) takes it off the list; the DLQ's messages move back to their queue;
// - a read-only user (no `admin` in the console's authorization map) sees but cannot purge or
//   delete: the buttons are disabled and the API answers 403.
//
// HAWSER_CONSOLE_SCREENSHOTS=<dir>: also writes the screenshots used in the READMEs there
// (docs/images: console-cluster.png, console-destinations.png, console-browse.png, console-charts.png).
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { hashPassword } from '@hawser/security';
import { Cluster, checkFor } from './cluster';
import { ServiceProcess } from './harness';
import { Clients, unique } from './support';

const CHROMIUM = process.env.HAWSER_CHROMIUM ?? '/usr/bin/chromium';
const CHEAP = { log2N: 10, r: 8, p: 1 };
const SHOTS = process.env.HAWSER_CONSOLE_SCREENSHOTS;

class ConsoleProcess extends ServiceProcess {
  get httpPort(): number { return this.field('httpPort'); }
  get url(): string { return `http://127.0.0.1:${this.httpPort}/`; }
}

// Chromium is part of the suite's setup (tools/scripts/setup.sh): without it this FAILS and says how to install it, it never skips.
describe('web console in headless Chromium against a real cluster', { timeout: 240_000 }, () => {
  let c: Cluster;
  let console_: ConsoleProcess;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const clients = new Clients(() => c.gateway.stompUri);

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: apt-get install -y chromium (or run tools/scripts/setup.sh as root), or set HAWSER_CHROMIUM`);
    c = await Cluster.start({ name: 'console' });
    const root = c.h.root;
    const users = join(root, 'console-users.properties');
    const groups = join(root, 'console-groups.properties');
    const acl = join(root, 'console-authorization.txt');
    writeFileSync(users, `admin=${await hashPassword('admin-pw', CHEAP)}\nviewer=${await hashPassword('viewer-pw', CHEAP)}\n`);
    writeFileSync(groups, 'admins=admin\nviewers=viewer\n');
    // Everyone in admins or viewers reads; only admins administer.
    writeFileSync(acl, 'queue  >  admins,viewers  admins  admins\ntopic  >  admins,viewers  admins  admins\n');
    console_ = new ConsoleProcess({
      name: 'console', script: 'apps/console/dist/main.js',
      args: ['--console.id', 'console-1', '--coordinators', c.coordinatorAddresses.join(','), '--http.port', '0',
        '--poll.intervalMs', '300', '--poll.scrapeMs', '500',
        '--auth.usersFile', users, '--auth.groupsFile', groups, '--authorization.file', acl],
      readyMsg: 'console ready',
      portFlags: { '--http.port': 'httpPort' },
    }, c.h.logDir);
    await c.h.startService(console_);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  });
  afterEach(async (t) => {
    c?.reportIfFailed(t);
    await clients.closeAll();
  });
  after(async () => {
    for (const ctx of contexts) await ctx.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await c?.close();
  });

  async function loggedIn(login: string, password: string): Promise<Page> {
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 860 } });
    contexts.push(ctx);
    const page = await ctx.newPage();
    await page.goto(console_.url);
    await page.locator('#login').fill(login);
    await page.locator('#password').fill(password);
    await page.locator('button[type=submit]').click();
    await page.locator('[data-testid="live"]').waitFor({ timeout: 10_000 });
    return page;
  }

  const text = async (page: Page, selector: string): Promise<string> => ((await page.locator(selector).first().textContent({ timeout: 2_000 })) ?? '').trim();
  const depthOf = (page: Page, q: string) => text(page, `tr[data-dest="${q}"] [data-testid="depth"]`);
  const shot = async (page: Page, name: string) => { if (SHOTS) await page.screenshot({ path: join(SHOTS, name), fullPage: false }); };

  it('asks for a login, then shows the master and follows a kill -9 of it to the new one', async (t) => {
    const ctx = await browser.newContext();
    contexts.push(ctx);
    const anon = await ctx.newPage();
    await anon.goto(console_.url);
    await anon.locator('[data-testid="login"]').waitFor({ timeout: 10_000 });
    await anon.locator('#login').fill('admin');
    await anon.locator('#password').fill('wrong');
    await anon.locator('button[type=submit]').click();
    assert.match(await text(anon, '[data-testid="login-error"]'), /login failed/);

    const page = await loggedIn('admin', 'admin-pw');
    const first = await c.waitForMaster();
    const oldId = c.idOf(first.store);
    const group = `[data-testid="group-${c.opts.group}"]`;
    await checkFor(15_000, 100, async () => {
      assert.equal(await text(page, `${group} [data-testid="group-master"]`), oldId);
      assert.equal(await text(page, `${group} [data-testid="group-state"]`), 'ok');
      assert.equal(await page.locator(`${group} tr[data-member]`).count(), 3);
      assert.equal(await page.locator(`${group} tr[data-member="${oldId}"]`).getAttribute('data-role'), 'master');
    });
    // Health comes from each service's /metrics (scraped every 500 ms): every store is up.
    await checkFor(10_000, 100, async () => assert.equal(await page.locator(`${group} tr[data-member] .dot.up`).count(), 3));
    assert.equal(await text(page, '[data-testid="coordinators"] .badge.leader'), 'leader');
    await shot(page, 'console-cluster.png');

    const killedAt = Date.now();
    assert.equal((await first.store.kill9())?.signal, 'SIGKILL');
    // The page is not reloaded: the server follows Topology.Watch and pushes the change.
    const next = await checkFor(20_000, 100, async () => {
      const master = await text(page, `${group} [data-testid="group-master"]`);
      assert.ok(master && master !== '—' && master !== oldId, `the page still shows master '${master}'`);
      return master;
    });
    t.diagnostic(`the page shows ${next} as master ${Date.now() - killedAt} ms after the kill -9 of ${oldId}`);
    const now = await c.waitForMaster({ exclude: oldId, aboveEpoch: first.group.epoch });
    assert.equal(next, now.group.masterId);
    assert.ok(Number(await text(page, `${group} [data-testid="group-epoch"]`)) > first.group.epoch);
    // The election is in the page's log of what happened.
    await checkFor(5_000, 100, async () => {
      const log = await text(page, '[data-testid="events"]');
      assert.match(log, new RegExp(`${next} is master in epoch \\d+ \\(was ${oldId}\\)`));
    });
    await c.store(oldId).restart(); // back to three for the next tests
  });

  it('follows a queue\'s depth, browses it, sends a test message, purges and deletes it after confirmation, moves the DLQ back', async () => {
    const page = await loggedIn('admin', 'admin-pw');
    await page.locator('button[data-tab="destinations"]').click();
    const q = unique('/queue/console');
    const producer = await clients.connect();
    for (let i = 0; i < 5; i++) await producer.send(q, `order ${i} from the e2e`, { persistent: true, headers: { region: 'emea' } });
    await checkFor(15_000, 100, async () => assert.equal(await depthOf(page, q), '5'));
    for (let i = 5; i < 8; i++) await producer.send(q, `order ${i} from the e2e`, { persistent: true });
    await checkFor(10_000, 100, async () => assert.equal(await depthOf(page, q), '8'));
    await shot(page, 'console-destinations.png');

    // Browse: the messages with headers and body.
    await page.locator(`tr[data-dest="${q}"] button[data-action="browse"]`).click();
    await page.locator('[data-testid="browse"] [data-testid="message-body"]').first().waitFor({ timeout: 10_000 });
    const bodies = await page.locator('[data-testid="browse"] [data-testid="message-body"]').allTextContents();
    assert.equal(bodies.length, 8);
    assert.equal(bodies[0], 'order 0 from the e2e');
    assert.match(await text(page, '[data-testid="browse"] tr[data-message] .headers'), /region=emea/);
    await shot(page, 'console-browse.png');

    // Send a test message (Admin.Send), after its confirmation dialog.
    await page.locator(`tr[data-dest="${q}"] button[data-action="send"]`).click();
    await page.locator('[data-testid="send-body"]').fill('a test message from the console');
    await page.locator('[data-testid="confirm-ok"]').click();
    await checkFor(10_000, 100, async () => assert.equal(await depthOf(page, q), '9'));
    await checkFor(10_000, 100, async () => {
      const all = await page.locator('[data-testid="browse"] [data-testid="message-body"]').allTextContents();
      assert.ok(all.includes('a test message from the console'), `browse shows ${JSON.stringify(all)}`);
    });

    // Purge asks first; Cancel leaves the queue alone.
    await page.locator(`tr[data-dest="${q}"] button[data-action="purge"]`).click();
    await page.locator('[data-testid="confirm"]').waitFor();
    assert.match(await text(page, '[data-testid="confirm"]'), /cannot be undone/);
    await page.locator('[data-testid="confirm"] button', { hasText: 'Cancel' }).click();
    assert.equal(await depthOf(page, q), '9');
    await page.locator(`tr[data-dest="${q}"] button[data-action="purge"]`).click();
    await page.locator('[data-testid="confirm-ok"]').click();
    await checkFor(10_000, 100, async () => assert.equal(await depthOf(page, q), '0'));
    await page.locator('[data-testid="browse-empty"]').waitFor({ timeout: 5_000 });
    assert.match(await text(page, '[data-testid="notice"]'), /Purged 9 message/);

    // Delete (Admin.Delete) the now empty queue after its confirmation: it leaves the list.
    await page.locator(`tr[data-dest="${q}"] button[data-action="delete"]`).click();
    assert.match(await text(page, '[data-testid="confirm"]'), /Refused while it has consumers/);
    await page.locator('[data-testid="confirm-ok"]').click();
    await checkFor(10_000, 100, async () => assert.equal(await page.locator(`tr[data-dest="${q}"]`).count(), 0));
    assert.match(await text(page, '[data-testid="notice"]'), /Deleted \/queue\/console/);

    // The DLQ (highlighted) moves back to where each message came from.
    const dlq = '/queue/ActiveMQ.DLQ';
    const target = unique('/queue/console-dlq-target');
    await producer.send(dlq, 'a dead letter', { persistent: true, headers: { originalDestination: target } });
    await checkFor(10_000, 100, async () => assert.equal(await depthOf(page, dlq), '1'));
    assert.match((await page.locator(`tr[data-dest="${dlq}"]`).getAttribute('class')) ?? '', /dlq/);
    await page.locator(`tr[data-dest="${dlq}"] button[data-action="move"]`).click();
    await page.locator('[data-testid="confirm-ok"]').click();
    await checkFor(10_000, 100, async () => {
      assert.equal(await depthOf(page, dlq), '0');
      assert.equal(await depthOf(page, target), '1');
    });
    await producer.disconnect();

    if (SHOTS) {
      await page.locator('button[data-tab="charts"]').click();
      await page.locator(`[data-testid="charts-${c.opts.group}"] polyline`).first().waitFor({ timeout: 10_000 });
      await shot(page, 'console-charts.png');
    }
  });

  it('a read-only user sees the queues but cannot purge or delete (disabled in the page, 403 from the API)', async () => {
    const q = unique('/queue/console-ro');
    const producer = await clients.connect();
    for (let i = 0; i < 3; i++) await producer.send(q, `keep ${i}`, { persistent: true });
    await producer.disconnect();
    const page = await loggedIn('viewer', 'viewer-pw');
    assert.match(await text(page, '[data-testid="user"]'), /viewer \(viewers\)/);
    await page.locator('button[data-tab="destinations"]').click();
    await checkFor(15_000, 100, async () => assert.equal(await depthOf(page, q), '3'));
    assert.equal(await page.locator(`tr[data-dest="${q}"] button[data-action="purge"]`).isDisabled(), true);
    assert.equal(await page.locator(`tr[data-dest="${q}"] button[data-action="send"]`).isDisabled(), true);
    assert.equal(await page.locator(`tr[data-dest="${q}"] button[data-action="delete"]`).isDisabled(), true);
    assert.equal(await page.locator(`tr[data-dest="${q}"] button[data-action="browse"]`).isDisabled(), false);
    // Around the page: the API itself refuses, with the CSRF token the page holds.
    const r = await page.evaluate(async ({ group, destination }) => {
      const s = await (await fetch('/api/session')).json() as { csrf: string };
      const res = await fetch('/api/purge', { method: 'POST', headers: { 'content-type': 'application/json', 'x-hawser-csrf': s.csrf }, body: JSON.stringify({ group, destination }) });
      return { status: res.status, body: await res.json() as { error: string } };
    }, { group: c.opts.group, destination: q });
    assert.equal(r.status, 403);
    assert.match(r.body.error, /may not administer/);
    // Without the CSRF token even an admin's request is refused.
    const admin = await loggedIn('admin', 'admin-pw');
    const noToken = await admin.evaluate(async ({ group, destination }) => (await fetch('/api/purge', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ group, destination }) })).status, { group: c.opts.group, destination: q });
    assert.equal(noToken, 403);
    await admin.locator('button[data-tab="destinations"]').click();
    await checkFor(5_000, 100, async () => assert.equal(await depthOf(admin, q), '3'));
  });
});
