#!/usr/bin/env node
// The local cluster behind `npm start`: starts Hawser's services as child processes on the
// default ports, restarts one that dies (after a short delay, as the systemd units in
// deploy/ do with Restart=on-failure), and stops them all on Ctrl-C / SIGTERM.
//
//   npm start                         ZooKeeper, a group of 3 replicated stores serving clients themselves
//                                     (embedded gateways), 2 coordinators, 1 separate gateway
//   npm start -- --standalone         one standalone store serving clients itself (no ZooKeeper)
//   npm start -- --data DIR --offset N
//   npm start -- --secure             mutual TLS between every service (a private CA and one
//                                     certificate per service under DIR/certs) and ZooKeeper digest ACLs
//
// Data and logs go under DIR (default .hawser/ in the repository), one log file per service.
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';

const root = resolve(new URL('../..', import.meta.url).pathname);
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : def;
};
if (args.includes('--help')) {
  console.log(`usage: npm start -- [--standalone | --groups N] [--data DIR] [--offset N]
  (default)      ZooKeeper on 2181, stores store-1..3 (group "default", replicas 3) on gRPC 61620-61622 / HTTP 8171-8173,
                 each serving clients itself (embedded gateway: STOMP 61651-61653, WS 61661-61663, MQTT 1891-1893; in-process
                 on the master), coordinators on gRPC 61630-61631 / HTTP 8181-8182, and a separate gateway on
                 STOMP 61613, WS 61614, MQTT 1883, HTTP 8162 (its clients keep their connection when any store dies),
                 and the web console on http://127.0.0.1:8161/ (apps/console)
  --groups N     N groups g1..gN of 3 stores each, a separate gateway per group (group k: every port + 100*(k-1),
                 so g2's gateway is STOMP 61713) and a duplex bridge linking them (HTTP 8191)
  --standalone   one standalone store (gRPC 61620, HTTP 8171) serving clients itself on STOMP 61613, WS 61614, MQTT 1883;
                 no ZooKeeper; its data in DIR/standalone (never the group's store-1); the console on 8161
  --offset N     add N to every port (run two clusters side by side)
  --data DIR     data and logs (default .hawser/)
  --secure       mutual TLS on every gRPC hop (CA and per-service certificates made under DIR/certs with openssl,
                 kept across runs) and ZooKeeper digest auth (DIR/certs/zk-auth); prints the CLI's --tls.* flags;
                 the console asks for a login (the users admin and app; only admin may act)`);
  process.exit(0);
}
const dataDir = resolve(opt('data', join(root, '.hawser')));
const offset = Number(opt('offset', '0'));
if (!Number.isInteger(offset) || offset < 0 || offset > 1000) {
  console.error(`local-cluster: --offset must be an integer from 0 to 1000, got ${opt('offset')}`);
  process.exit(2);
}
const standalone = args.includes('--standalone');
const groupCount = Number(opt('groups', '1'));
if (!Number.isInteger(groupCount) || groupCount < 1 || groupCount > 5) {
  console.error(`local-cluster: --groups must be an integer from 1 to 5, got ${opt('groups')}`);
  process.exit(2);
}
if (standalone && groupCount > 1) {
  console.error('local-cluster: --groups needs the replicated groups (drop --standalone)');
  process.exit(2);
}
const p = (n) => String(n + offset);
mkdirSync(join(dataDir, 'logs'), { recursive: true });

const zk = `127.0.0.1:${p(2181)}`;
const coordinators = [0, 1].map((i) => `127.0.0.1:${p(61630 + i)}`);
const services = [];
if (standalone) {
  // The embedded gateway: clients talk to the store in-process (no second process, no gRPC hop).
  // Its own data dir: the replicated group's store-1 directory is not a standalone store's
  // (the store refuses a directory written for another mode; docs/security.md).
  services.push({
    name: 'store-1', script: 'apps/store/dist/main.js', ready: 'store ready',
    args: ['--group', 'default', '--node.id', 'store-1', '--node.dataDir', join(dataDir, 'standalone'), '--grpc.port', p(61620), '--http.port', p(8171),
      '--gateway.enabled', 'true', '--gateway.auth.anonymous', 'true', '--gateway.stomp.port', p(61613), '--gateway.ws.port', p(61614),
      '--gateway.mqtt.enabled', 'true', '--gateway.mqtt.port', p(1883)],
  });
  // The web console reads the standalone store's Admin RPCs (no coordinators to follow).
  services.push({
    name: 'console', script: 'apps/console/dist/main.js', ready: 'console ready',
    args: ['--console.id', 'console', '--stores', `default=127.0.0.1:${p(61620)}`, '--http.port', p(8161)],
  });
} else {
  services.push({
    name: 'zookeeper', script: 'tools/zookeeper/dist/cli.js', ready: 'zookeeper ready', gate: true,
    args: ['--dataDir', join(dataDir, 'zookeeper'), '--port', p(2181)],
  });
  // One group: "default". Several (--groups N): g1..gN, each of three stores and its own
  // gateway; group k's ports are the defaults + 100*(k-1).
  for (let k = 0; k < groupCount; k++) {
    const group = groupCount === 1 ? 'default' : `g${k + 1}`;
    const suffix = groupCount === 1 ? '' : `-g${k + 1}`;
    for (let i = 0; i < 3; i++) {
      const id = `store-${i + 1}${suffix}`;
      services.push({
        name: id, script: 'apps/store/dist/main.js', ready: 'store ready',
        args: ['--group', group, '--node.id', id, '--node.dataDir', join(dataDir, id), '--grpc.port', p(61620 + 100 * k + i), '--http.port', p(8171 + 100 * k + i),
          '--ha.mode', 'replicated', '--replicas', '3', '--zk.address', zk, '--coordinators', coordinators.join(','),
          '--gateway.enabled', 'true', '--gateway.auth.anonymous', 'true', '--gateway.stomp.port', p(61651 + 100 * k + i), '--gateway.ws.port', p(61661 + 100 * k + i),
          '--gateway.mqtt.enabled', 'true', '--gateway.mqtt.port', p(1891 + 100 * k + i)],
      });
    }
  }
  coordinators.forEach((addr, i) => {
    services.push({
      name: `coordinator-${i + 1}`, script: 'apps/coordinator/dist/main.js', ready: 'coordinator ready',
      args: ['--coordinator.id', `coordinator-${i + 1}`, '--zk.address', zk, '--grpc.port', p(61630 + i), '--http.port', p(8181 + i)],
    });
  });
  for (let k = 0; k < groupCount; k++) {
    const group = groupCount === 1 ? 'default' : `g${k + 1}`;
    services.push({
      name: `gateway-${k + 1}`, script: 'apps/gateway/dist/main.js', ready: 'gateway ready',
      args: ['--gateway.id', `gateway-${k + 1}`, '--group', group, '--coordinators', coordinators.join(','), '--zk.address', zk,
        '--stomp.port', p(61613 + 100 * k), '--ws.port', p(61614 + 100 * k), '--http.port', p(8162 + 100 * k), '--auth.anonymous', 'true', '--mqtt.enabled', 'true', '--mqtt.port', p(1883 + 100 * k)],
    });
  }
  if (groupCount > 1) {
    services.push({
      name: 'bridge-1', script: 'apps/bridge/dist/main.js', ready: 'bridge ready',
      args: ['--bridge.id', 'bridge-1', '--groups', Array.from({ length: groupCount }, (_, k) => `g${k + 1}`).join(','),
        '--coordinators', coordinators.join(','), '--zk.address', zk, '--http.port', p(8191)],
    });
  }
  // The web console on ActiveMQ's address: it follows the coordinators and reads the masters' Admin RPCs.
  services.push({
    name: 'console', script: 'apps/console/dist/main.js', ready: 'console ready',
    args: ['--console.id', 'console', '--coordinators', coordinators.join(','), '--http.port', p(8161)],
  });
}

// --secure: every service gets --tls.* (its role's certificate, CN = its id) and --zk.auth.
// Made once per data dir and reused, so a restarted cluster keeps its CA and its znodes' ACLs.
if (args.includes('--secure')) {
  const { makeCerts } = await import(join(root, 'libs/proto/dist/index.js'));
  const certDir = join(dataDir, 'certs');
  const roleOf = (name) => (name.startsWith('store-') ? 'store' : name.startsWith('coordinator-') ? 'coordinator'
    : name.startsWith('gateway-') ? 'gateway' : name.startsWith('bridge-') ? 'bridge' : name === 'console' ? 'admin' : null);
  const wanted = services.filter((s) => roleOf(s.name)).map((s) => ({ role: roleOf(s.name), name: s.name }));
  const missing = [...wanted, { role: 'admin', name: 'admin' }].filter((r) => !existsSync(join(certDir, `${r.role}-${r.name}.pem`)));
  if (missing.length) makeCerts(certDir, missing);
  const zkAuthFile = join(certDir, 'zk-auth');
  if (!existsSync(zkAuthFile)) writeFileSync(zkAuthFile, `hawser:${randomBytes(18).toString('base64url')}\n`, { mode: 0o600 });
  // Clients: users with scrypt-hashed passwords (the clear ones kept beside them, mode 600, so
  // every run can print them), an authorization map, anonymous off, and TLS listeners
  // (stomp+ssl, wss) with the serving service's certificate.
  const { hashPassword } = await import(join(root, 'libs/security/dist/index.js'));
  const credsFile = join(certDir, 'client-credentials');
  if (!existsSync(credsFile)) {
    writeFileSync(credsFile, ['admin', 'app'].map((u) => `${u}=${randomBytes(12).toString('base64url')}`).join('\n') + '\n', { mode: 0o600 });
  }
  const creds = Object.fromEntries(readFileSync(credsFile, 'utf8').trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const usersFile = join(certDir, 'users.properties');
  const groupsFile = join(certDir, 'groups.properties');
  const aclFile = join(certDir, 'authorization');
  writeFileSync(usersFile, (await Promise.all(Object.entries(creds).map(async ([u, pw]) => `${u}=${await hashPassword(pw)}`))).join('\n') + '\n', { mode: 0o600 });
  writeFileSync(groupsFile, 'admins=admin\napps=app\n');
  writeFileSync(aclFile, [
    '# kind  pattern  read                 write                admin',
    'queue   >        admins,apps,bridges  admins,apps,bridges  admins',
    'topic   >        admins,apps,bridges  admins,apps,bridges  admins',
  ].join('\n') + '\n');
  const clientAuth = (prefix) => [`--${prefix}auth.anonymous`, 'false', `--${prefix}auth.usersFile`, usersFile, `--${prefix}auth.groupsFile`, groupsFile];
  const tlsPorts = [];
  for (const s of services) {
    const role = roleOf(s.name);
    if (!role) continue;
    const cert = join(certDir, `${role}-${s.name}.pem`);
    const key = join(certDir, `${role}-${s.name}-key.pem`);
    s.args.push('--tls.ca', join(certDir, 'ca.pem'), '--tls.cert', cert, '--tls.key', key);
    if (role === 'admin') {
      // The console: an admin-role client of the stores; its users log in, and act where the map gives them admin.
      s.args.push('--auth.usersFile', usersFile, '--auth.groupsFile', groupsFile, '--authorization.file', aclFile);
      continue;
    }
    if (!standalone) s.args.push('--zk.auth', `file:${zkAuthFile}`);
    if (role === 'store') s.args.push('--authorization.file', aclFile);
    // The stores serve clients (embedded gateways) and so does the separate gateway.
    const prefix = role === 'store' ? 'gateway.' : role === 'gateway' ? '' : null;
    if (prefix === null) continue;
    const i = services.filter((x) => roleOf(x.name) === role).indexOf(s);
    const [sslPort, wssPort] = role === 'gateway' ? [p(61612 + 100 * i), p(61615 + 100 * i)]
      : standalone ? [p(61612), p(61615)] : [p(61671 + i), p(61681 + i)];
    s.args.push(...clientAuth(prefix), `--${prefix}ssl.cert`, cert, `--${prefix}ssl.key`, key, `--${prefix}ssl.port`, sslPort, `--${prefix}wss.port`, wssPort);
    tlsPorts.push(`${s.name} stomp+ssl://127.0.0.1:${sslPort} wss://127.0.0.1:${wssPort}`);
  }
  console.log(`local-cluster: --secure: mutual TLS and ZooKeeper digest ACLs
  certificates  ${certDir} (CA ca.pem; ${missing.length ? `made ${missing.map((r) => `${r.role}-${r.name}`).join(', ')}` : 'all reused'})
  ZooKeeper     digest credentials in ${zkAuthFile}
  the CLI       hawser status --tls.ca ${join(certDir, 'ca.pem')} --tls.cert ${join(certDir, 'admin-admin.pem')} --tls.key ${join(certDir, 'admin-admin-key.pem')}
                (or export HAWSER_TLS_CA, HAWSER_TLS_CERT, HAWSER_TLS_KEY)
  clients       anonymous off; users ${Object.entries(creds).map(([u, pw]) => `${u} / ${pw}`).join(', ')} (${usersFile}, groups ${groupsFile})
                authorization map ${aclFile}; TLS listeners (trust ${join(certDir, 'ca.pem')}):
                ${tlsPorts.join('\n                ')}
                e.g. hawser send /queue/q hi --uri 'ssl://127.0.0.1:${p(61612)}?ca=${join(certDir, 'ca.pem')}' --login app --passcode ${creds.app}`);
}

let stopping = false;
const running = new Map(); // name -> child

/** Resolves when `svc` logged its ready line after byte `from` of its log, or rejects when it exits. */
function waitReady(svc, logFile, from, child) {
  return new Promise((resolveReady, reject) => {
    const timer = setInterval(() => {
      if (child.exitCode !== null || child.signalCode !== null) { clearInterval(timer); reject(new Error(`${svc.name} exited before it was ready (see ${logFile})`)); return; }
      if (!existsSync(logFile) || statSync(logFile).size <= from) return;
      const text = readFileSync(logFile).subarray(from).toString('utf8');
      if (text.includes(`"msg":"${svc.ready}"`)) { clearInterval(timer); resolveReady(); }
    }, 100);
  });
}

function start(svc, attempt = 0) {
  if (stopping) return Promise.resolve();
  const logFile = join(dataDir, 'logs', `${svc.name}.log`);
  const from = existsSync(logFile) ? statSync(logFile).size : 0;
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [join(root, svc.script), ...svc.args], { stdio: ['ignore', fd, fd], cwd: root });
  closeSync(fd);
  running.set(svc.name, child);
  const startedAt = Date.now();
  console.log(`[local-cluster] ${svc.name} started (pid ${child.pid}), log ${logFile}`);
  child.on('exit', (code, signal) => {
    running.delete(svc.name);
    if (stopping) return;
    // A service that ran for a while restarts quickly; one that keeps dying backs off.
    const next = Date.now() - startedAt > 30_000 ? 0 : attempt + 1;
    const delay = Math.min(1000 * 2 ** Math.max(0, next - 1), 30_000);
    console.log(`[local-cluster] ${svc.name} exited (${signal ?? `code ${code}`}); restarting in ${delay} ms (see ${logFile})`);
    setTimeout(() => start(svc, next), delay);
  });
  return waitReady(svc, logFile, from, child).then(
    () => console.log(`[local-cluster] ${svc.name} ready`),
    (e) => console.log(`[local-cluster] ${e.message}`),
  );
}

function stopAll(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`[local-cluster] ${signal}: stopping ${running.size} service(s)`);
  // ZooKeeper last, so that the stores' sessions end cleanly.
  const zkChild = running.get('zookeeper');
  for (const [name, child] of running) if (name !== 'zookeeper') child.kill('SIGTERM');
  const force = setTimeout(() => { for (const child of running.values()) child.kill('SIGKILL'); }, 10_000);
  const check = setInterval(() => {
    if (zkChild && running.size === 1 && running.has('zookeeper')) zkChild.kill('SIGTERM');
    if (running.size === 0) {
      clearInterval(check);
      clearTimeout(force);
      console.log('[local-cluster] stopped');
      process.exit(0);
    }
  }, 100);
}
process.on('SIGINT', () => stopAll('SIGINT'));
process.on('SIGTERM', () => stopAll('SIGTERM'));

(async () => {
  const pending = [];
  for (const svc of services) {
    const ready = start(svc);
    if (svc.gate) await ready; else pending.push(ready);
  }
  await Promise.all(pending);
  if (stopping) return;
  if (standalone) {
    console.log(`[local-cluster] Hawser is up: STOMP stomp://127.0.0.1:${p(61613)}, WebSocket ws://127.0.0.1:${p(61614)}, MQTT mqtt://127.0.0.1:${p(1883)}, metrics http://127.0.0.1:${p(8171)}/metrics`);
  }
  for (let k = 0; !standalone && k < groupCount; k++) {
    const name = groupCount === 1 ? 'Hawser' : `group g${k + 1}`;
    const nodes = [0, 1, 2].map((i) => `stomp://127.0.0.1:${p(61651 + 100 * k + i)}`);
    console.log(`[local-cluster] ${name} is up:`);
    console.log(`  the store nodes (fastest: in-process on the master): failover:(${nodes.join(',')})?randomize=false; MQTT on ports ${p(1891 + 100 * k)}-${p(1893 + 100 * k)}`);
    console.log(`  the separate gateway (keeps its clients' connections through any store's death): stomp://127.0.0.1:${p(61613 + 100 * k)}, ws://127.0.0.1:${p(61614 + 100 * k)}, mqtt://127.0.0.1:${p(1883 + 100 * k)}, metrics http://127.0.0.1:${p(8162 + 100 * k)}/metrics`);
  }
  if (!standalone) console.log(`[local-cluster] topology: node tools/cli/dist/main.js status${offset ? ` --coordinators ${coordinators.join(',')}` : ''}`);
  console.log(`[local-cluster] web console: http://127.0.0.1:${p(8161)}/${args.includes('--secure') ? ' (log in as admin or app: the passwords above)' : ''}`);
  console.log('[local-cluster] Ctrl-C stops everything.');
})();
