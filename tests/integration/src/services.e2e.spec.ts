// Every service starts, serves /metrics, /healthz and /readyz, stops cleanly on SIGTERM,
// and rejects a bad config value with one line naming the key (exit 2, no stack trace).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Harness, ServiceProcess, ROOT, httpGet } from './harness';

describe('services', { timeout: 60_000 }, () => {
  const h = new Harness('services');
  const started: ServiceProcess[] = [];
  after(async () => {
    for (const s of started) await s.stop();
    await h.close();
  });

  // Started alone: the coordinator without ZooKeeper (it keeps retrying in the background),
  // the bridge with static store addresses nobody listens on and no ZooKeeper lock.
  const alone: Record<string, { args: string[]; metric: RegExp }> = {
    coordinator: { args: [], metric: /^hawser_coordinator_up\{[^}]*\} 1$/m },
    bridge: { args: ['--groups', 'g1,g2', '--stores', 'g1=127.0.0.1:1,g2=127.0.0.1:2', '--zk.address='], metric: /^hawser_bridge_link_state\{/m },
  };
  for (const app of ['coordinator', 'bridge']) {
    it(`${app}: starts, serves metrics and health, exits 0 on SIGTERM`, { timeout: 30_000 }, async () => {
      const svc = new ServiceProcess({
        name: app,
        script: `apps/${app}/dist/main.js`,
        args: [`--${app}.id`, `${app}-1`, '--http.port', '0', ...alone[app]!.args],
        readyMsg: `${app} ready`,
      }, h.logDir);
      started.push(svc);
      await svc.start();
      const port = svc.field<number>('httpPort');
      const m = await httpGet(port, '/metrics');
      assert.equal(m.status, 200);
      assert.match(m.body, alone[app]!.metric);
      assert.equal((await httpGet(port, '/healthz')).status, 200);
      assert.equal((await httpGet(port, '/readyz')).status, 200);
      const st = await svc.stop();
      assert.deepEqual(st, { code: 0, signal: null });
    });
  }

  const badConfigs: Array<[string, string[], Record<string, string>, RegExp]> = [
    ['store', ['--grpc.port', 'abc'], {}, /^hawser-store: config error: grpc\.port: expected an integer, got 'abc' \(from flag --grpc\.port\)$/],
    ['store', [], { HAWSER_SYNC: 'sometimes' }, /^hawser-store: config error: sync: expected one of local_mem, .* got 'sometimes' \(from environment HAWSER_SYNC\)$/],
    ['gateway', ['--limits.maximumConnections', '-5'], {}, /^hawser-gateway: config error: limits\.maximumConnections: expected an integer from /],
    ['gateway', ['--stomp.prot', '1'], {}, /^hawser-gateway: config error: stomp\.prot: unknown option --stomp\.prot/],
    ['coordinator', [], { HAWSER_HTTP_PORT: '70000' }, /^hawser-coordinator: config error: http\.port: expected an integer from 0 to 65535, got 70000/],
    ['bridge', ['--config', '/nonexistent/bridge.json'], {}, /^hawser-bridge: config error: config: cannot read config file \/nonexistent\/bridge\.json/],
  ];
  for (const [app, args, env, re] of badConfigs) {
    it(`${app}: ${[...args, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)].join(' ')} is a one-line config error, exit 2`, { timeout: 15_000 }, () => {
      const r = spawnSync(process.execPath, [join(ROOT, `apps/${app}/dist/main.js`), ...args], {
        env: { ...process.env, ...env }, encoding: 'utf8', timeout: 10_000,
      });
      assert.equal(r.status, 2, `exit status (stderr: ${r.stderr})`);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `one line, got: ${r.stderr}`);
      assert.match(lines[0]!, re);
    });
  }

  it('--help lists the keys with their environment variables', { timeout: 15_000 }, () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'apps/gateway/dist/main.js'), '--help'], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 0);
    assert.match(r.stdout, /--limits\.maxFrameSize {2}HAWSER_LIMITS_MAX_FRAME_SIZE/);
  });
});
