// The deployment files are tested, not only written (issue 12):
// - systemd units: `systemd-analyze verify` (as shipped, and with their commented secure lines on);
// - Kubernetes manifests: every object validated against the Kubernetes OpenAPI schemas
//   (kubernetes-models: the schemas compiled with ajv, offline), plus what the design asks:
//   stores a StatefulSet of 3 with one volume each, ZooKeeper a StatefulSet of 3, probes on
//   /readyz and /healthz, a PodDisruptionBudget per workload, NetworkPolicies, and the secure
//   configuration (mutual TLS, zk.auth, TLS-only logged-in clients, the authorization map);
// - every Hawser command line in the manifests, the compose file and the units parsed by the
//   service's own config schema (@hawser/config: an unknown flag or bad value fails);
// - the compose file: the Compose Specification's JSON schema (dclint's bundled copy) and its
//   references (secrets, volumes);
// - the Dockerfile: parsed (dockerfile-utils), its COPY sources exist, what it builds reaches only
//   copied projects, every script the deploy files run is built, npm ci accepts what it copies.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { ROOT } from './harness';

const K8S = join(ROOT, 'deploy/kubernetes/hawser.yaml');
const COMPOSE = join(ROOT, 'deploy/docker/compose.yaml');
const DOCKERFILE = join(ROOT, 'deploy/docker/Dockerfile');
const DOCKERIGNORE = join(ROOT, 'deploy/docker/Dockerfile.dockerignore');
const UNITS = join(ROOT, 'deploy/systemd');

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

// ---- the services' own config schemas ------------------------------------------------------

interface Service { schema: unknown; validate?: (c: unknown) => unknown }
const SERVICES: Record<string, () => Service> = {
  'apps/store/dist/main.js': () => require(join(ROOT, 'apps/store/dist/config.js')) as Service,
  'apps/gateway/dist/main.js': () => require(join(ROOT, 'libs/gateway/dist/config.js')) as Service,
  'apps/coordinator/dist/main.js': () => require(join(ROOT, 'apps/coordinator/dist/config.js')) as Service,
  'apps/bridge/dist/main.js': () => require(join(ROOT, 'apps/bridge/dist/config.js')) as Service,
  'apps/console/dist/main.js': () => require(join(ROOT, 'apps/console/dist/config.js')) as Service,
};

/** Parses a service's flags and environment with its schema (and, for a complete command line, its validate()); throws the ConfigError. */
function checkCommandLine(where: string, script: string, argv: string[], env: Record<string, string>, complete = true): void {
  const svc = SERVICES[script];
  if (!svc) throw new Error(`${where}: runs ${script}, which is not a Hawser service this check knows`);
  const { loadConfig } = require(join(ROOT, 'libs/config/dist/index.js')) as { loadConfig: (s: unknown, o: { argv: string[]; env: Record<string, string> }) => { config: unknown } };
  const { schema, validate } = svc();
  try {
    const { config } = loadConfig(schema, { argv, env });
    if (complete) validate?.(config);
  } catch (e) {
    throw new Error(`${where}: ${(e as Error).message}`);
  }
}

// ---- Kubernetes -----------------------------------------------------------------------------

/** kubernetes-models module and class of an apiVersion/kind. */
function modelPath(apiVersion: string, kind: string): string {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const g = group === '' ? '' : group;
  return `kubernetes-models/${g ? `${g}/` : ''}${version}/${kind}`;
}

async function validateK8s(o: Obj): Promise<void> {
  const mod = (await import(modelPath(o.apiVersion, o.kind))) as Record<string, new (d: Obj) => { validate(): void }>;
  const Model = mod[o.kind];
  if (!Model) throw new Error(`no schema for ${o.apiVersion} ${o.kind}`);
  try {
    new Model(o).validate();
  } catch (e) {
    throw new Error(`${o.kind}/${o.metadata?.name}: ${(e as Error).message}`);
  }
}

function k8sObjects(text: string): Obj[] {
  const docs = parseAllDocuments(text);
  const out: Obj[] = [];
  for (const d of docs) {
    if (d.errors.length) throw new Error(`YAML: ${d.errors.map((e) => e.message).join('; ')}`);
    const o = d.toJSON() as Obj | null;
    if (o) out.push(o);
  }
  return out;
}

const matches = (selector: Obj | undefined, labels: Obj): boolean =>
  !!selector && Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);

/** $(VAR) expansion as the kubelet does it; $$ is a literal $. */
function expand(s: string, env: Record<string, string>, where: string): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string | undefined) => {
    if (m === '$$') return '$';
    if (env[name!] === undefined) throw new Error(`${where}: $(${name}) is not an env var of the container`);
    return env[name!]!;
  });
}

describe('deploy files', { timeout: 120_000 }, () => {
  it('systemd units pass systemd-analyze verify, as shipped and with their secure lines uncommented', () => {
    const which = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
    assert.equal(which.error, undefined, 'systemd-analyze is missing: run tools/scripts/setup.sh (Debian package systemd)');
    const units = readdirSync(UNITS).filter((f) => f.endsWith('.service'));
    assert.deepEqual(units.sort(), ['hawser-bridge.service', 'hawser-coordinator.service', 'hawser-gateway.service', 'hawser-store.service']);
    const tmp = mkdtempSync(join(tmpdir(), 'hawser-units-'));
    try {
      // the check itself: verify reports a bad unit on stderr (its exit status stays 0)
      writeFileSync(join(tmp, 'bad.service'), '[Service]\nExecStrat=/usr/bin/node\nExecStart=/usr/bin/node x.js\n');
      const bad = spawnSync('systemd-analyze', ['verify', '--man=no', join(tmp, 'bad.service')], { encoding: 'utf8' });
      assert.match(bad.stderr, /Unknown key 'ExecStrat'/);
      for (const u of units) {
        const text = readFileSync(join(UNITS, u), 'utf8');
        const secure = text.replace(/^#((?:LoadCredential|Environment=HAWSER_)\S*)/gm, '$1');
        assert.ok(/^LoadCredential=tls-cert:/m.test(secure) && /^Environment=HAWSER_ZK_AUTH=file:%d\/zk-auth/m.test(secure), `${u} has the secure lines to uncomment`);
        writeFileSync(join(tmp, u), secure);
        for (const file of [join(UNITS, u), join(tmp, u)]) {
          const r = spawnSync('systemd-analyze', ['verify', '--man=no', file], { encoding: 'utf8' });
          assert.equal(r.status, 0, r.stderr);
          assert.equal(r.stderr.trim(), '', `${relative(ROOT, file)}: ${r.stderr}`);
        }
        // the service's command line: ExecStart's script, with the units' HAWSER_* variables
        const script = /^ExecStart=\/usr\/bin\/node \/opt\/hawser\/(\S+)/m.exec(text)?.[1];
        assert.ok(script, `${u}: ExecStart runs a service under /opt/hawser`);
        const env: Record<string, string> = {};
        for (const m of secure.matchAll(/^Environment=(.*)$/gm)) {
          for (const kv of m[1]!.split(/\s+/)) { const i = kv.indexOf('='); if (kv.startsWith('HAWSER_') && i > 0) env[kv.slice(0, i)] = kv.slice(i + 1).replace('%d', '/run/credentials/x'); }
        }
        delete env.HAWSER_CONFIG; // /etc/hawser/<service>.json is the operator's
        const zkAuth = env.HAWSER_ZK_AUTH;
        delete env.HAWSER_ZK_AUTH; // a file the check cannot read; its form is checked above
        assert.ok(zkAuth?.startsWith('file:'));
        // the rest comes from /etc/hawser/<service>.json, the operator's: the names and values given must parse
        checkCommandLine(u, script, [], env, false);
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('Kubernetes manifests: valid against the Kubernetes schemas, and the shape the design asks for', async (t) => {
    const objs = k8sObjects(readFileSync(K8S, 'utf8'));
    for (const o of objs) await validateK8s(o);
    // the validator catches a wrong type (it is not a no-op)
    await assert.rejects(validateK8s({ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'x' }, spec: { replicas: 'three', serviceName: 'x', selector: {}, template: {} } }), /replicas must be integer/);

    const get = (kind: string, name: string): Obj => {
      const o = objs.find((x) => x.kind === kind && x.metadata?.name === name);
      assert.ok(o, `${kind}/${name} is in the manifests`);
      return o;
    };
    const store = get('StatefulSet', 'hawser-store');
    assert.equal(store.spec.replicas, 3);
    assert.deepEqual(store.spec.volumeClaimTemplates.map((v: Obj) => v.metadata.name), ['data'], 'one volume per store');
    assert.ok(store.spec.template.spec.containers[0].volumeMounts.some((m: Obj) => m.name === 'data' && m.mountPath === '/var/lib/hawser'));
    const zk = get('StatefulSet', 'zookeeper');
    assert.equal(zk.spec.replicas, 3);
    get('Deployment', 'hawser-gateway');
    get('Deployment', 'hawser-bridge');
    get('Deployment', 'hawser-console');
    get('StatefulSet', 'hawser-coordinator'); // stable names for mutual TLS: see the manifest's comment
    get('Service', 'hawser-store');
    get('ConfigMap', 'hawser-authorization');

    const workloads = objs.filter((o) => o.kind === 'StatefulSet' || o.kind === 'Deployment');
    const pdbs = objs.filter((o) => o.kind === 'PodDisruptionBudget');
    const policies = objs.filter((o) => o.kind === 'NetworkPolicy');
    const httpPort: Record<string, number> = { store: 8171, gateway: 8161, coordinator: 8181, bridge: 8191, console: 8161 };
    for (const w of workloads) {
      const labels = w.spec.template.metadata.labels;
      assert.ok(matches(w.spec.selector, labels), `${w.metadata.name}: selector matches its pods`);
      assert.ok(pdbs.some((p) => matches(p.spec.selector, labels)), `${w.metadata.name} has a PodDisruptionBudget`);
      assert.ok(policies.some((p) => matches(p.spec.podSelector, labels)), `${w.metadata.name} has a NetworkPolicy`);
      const pod = w.spec.template.spec;
      for (const ctr of pod.containers as Obj[]) {
        assert.ok(ctr.readinessProbe && ctr.livenessProbe, `${w.metadata.name}/${ctr.name} has probes`);
        if (ctr.image !== 'hawser:latest') continue;
        const where = `${w.kind}/${w.metadata.name}`;
        const port = httpPort[ctr.name];
        assert.deepEqual(ctr.readinessProbe.httpGet, { path: '/readyz', port }, `${where}: readiness on /readyz`);
        assert.deepEqual(ctr.livenessProbe.httpGet, { path: '/healthz', port }, `${where}: liveness on /healthz`);
        // the command line, expanded as the kubelet does, parsed by the service's schema
        const env: Record<string, string> = {};
        for (const e of (ctr.env ?? []) as Obj[]) env[e.name] = e.value ?? (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name' ? `${w.metadata.name}-0` : 'x');
        const [node, script, ...flags] = (ctr.command as string[]).map((a) => expand(a, env, where));
        assert.equal(node, 'node');
        const flag = (name: string) => { const i = flags.indexOf(`--${name}`); return i >= 0 ? flags[i + 1] : undefined; };
        const hawserEnv = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('HAWSER_')));
        checkCommandLine(where, script!, flags, hawserEnv);
        // secure: mutual TLS with files from a mounted Secret, ZooKeeper digest ACLs from a Secret
        const mounts = (ctr.volumeMounts ?? []) as Obj[];
        const volumes = (pod.volumes ?? []) as Obj[];
        const fromVolume = (path: string | undefined, kind: 'secret' | 'configMap') => {
          assert.ok(path, `${where}: file flag set`);
          const m = mounts.find((x) => path.startsWith(`${x.mountPath}/`));
          assert.ok(m, `${where}: ${path} is under a mounted volume`);
          const v = volumes.find((x) => x.name === m.name);
          assert.ok(v?.[kind], `${where}: ${path} comes from a ${kind}`);
          return v[kind];
        };
        for (const k of ['tls.ca', 'tls.cert', 'tls.key']) fromVolume(flag(k), 'secret');
        if (ctr.name !== 'console') { // the console talks to coordinators and stores, never ZooKeeper
          const auth = flag('zk.auth');
          assert.match(auth ?? '', /^file:\//, `${where}: --zk.auth file:<a mounted Secret>`);
          assert.equal(fromVolume(auth!.slice(5), 'secret').secretName, 'hawser-zk-auth');
        }
        if (ctr.name === 'gateway') {
          assert.equal(flag('stomp.enabled'), 'false', 'plaintext STOMP off');
          assert.equal(flag('ws.enabled'), 'false', 'plaintext WebSocket off');
          fromVolume(flag('ssl.cert'), 'secret');
          assert.equal(fromVolume(flag('auth.usersFile'), 'secret').secretName, 'hawser-clients');
          assert.equal(flag('auth.anonymous'), undefined);
        }
        if (ctr.name === 'console') {
          assert.equal(fromVolume(flag('auth.usersFile'), 'secret').secretName, 'hawser-clients', 'the console asks for a login');
          assert.equal(fromVolume(flag('authorization.file'), 'configMap').name, 'hawser-authorization', 'acting needs the admin permission');
        }
        if (ctr.name === 'store') {
          assert.equal(flag('ha.mode'), 'replicated');
          assert.equal(flag('replicas'), '3');
          assert.equal(fromVolume(flag('authorization.file'), 'configMap').name, 'hawser-authorization');
        }
      }
    }
    // a store's gRPC port admits the cluster's own pods only
    const storePolicy = policies.find((p) => p.metadata.name === 'hawser-store')!;
    const grpcRule = storePolicy.spec.ingress.find((r: Obj) => r.ports.some((p: Obj) => p.port === 61620));
    assert.deepEqual(grpcRule.from.map((f: Obj) => f.podSelector.matchLabels.app).sort(), ['hawser-bridge', 'hawser-console', 'hawser-coordinator', 'hawser-gateway', 'hawser-store']);
    t.diagnostic(`${objs.length} objects valid: ${[...new Set(objs.map((o) => o.kind))].join(', ')}`);
  });

  it('compose file: valid against the Compose Specification schema, its secrets and commands resolve', () => {
    const text = readFileSync(COMPOSE, 'utf8');
    const doc = parseYaml(text) as Obj;
    // dclint validates against its bundled compose-spec JSON schema; only its correctness rules are on
    const { DCLinter } = require('dclint') as { DCLinter: new (c: Obj) => { lintFiles(p: string[], r: boolean): Array<{ errorCount: number; messages: Array<{ rule: string; type: string; message: string }> }> } };
    const style = ['no-quotes-in-volumes', 'no-unbound-port-interfaces', 'no-version-field', 'require-project-name-field', 'require-quotes-in-ports',
      'service-container-name-regex', 'service-dependencies-alphabetical-order', 'service-image-require-explicit-tag', 'service-keys-order',
      'service-ports-alphabetical-order', 'services-alphabetical-order', 'top-level-properties-order', 'no-build-and-image'];
    const linter = new DCLinter({ rules: { ...Object.fromEntries(style.map((r) => [r, 0])), 'no-duplicate-container-names': 2, 'no-duplicate-exported-ports': 2 }, quiet: false, debug: false, exclude: [] });
    const [res] = linter.lintFiles([COMPOSE], false);
    assert.deepEqual(res!.messages.filter((m) => m.type === 'error').map((m) => `${m.rule}: ${m.message}`), []);
    // the schema is really applied
    const tmp = mkdtempSync(join(tmpdir(), 'hawser-compose-'));
    try {
      writeFileSync(join(tmp, 'compose.yaml'), 'services:\n  a:\n    image: x:1\n    restart: sometimes\n    bogus: 1\n');
      assert.ok(linter.lintFiles([join(tmp, 'compose.yaml')], false)[0]!.messages.some((m) => m.rule === 'invalid-schema'));
    } finally { rmSync(tmp, { recursive: true, force: true }); }

    for (const [name, svc] of Object.entries(doc.services as Obj)) {
      for (const s of (svc.secrets ?? []) as string[]) assert.ok(doc.secrets?.[s], `service ${name}: secret ${s} is defined`);
      for (const v of (svc.volumes ?? []) as string[]) { const vol = v.split(':')[0]!; if (!vol.startsWith('.') && !vol.startsWith('/')) assert.ok(vol in (doc.volumes ?? {}), `service ${name}: volume ${vol} is defined`); }
      assert.equal(svc.build?.dockerfile, 'deploy/docker/Dockerfile');
      const [node, script, ...flags] = svc.command as string[];
      assert.equal(node, 'node');
      const env = Object.fromEntries(Object.entries((svc.environment ?? {}) as Obj).map(([k, v]) => [k, String(v)]));
      checkCommandLine(`compose service ${name}`, script!, flags, env);
      // mutual TLS between the services, TLS-only logged-in clients
      assert.ok(env.HAWSER_TLS_CA && env.HAWSER_TLS_CERT && env.HAWSER_TLS_KEY, `compose service ${name}: mutual TLS`);
      if (name === 'gateway') {
        assert.deepEqual([flags[flags.indexOf('--stomp.enabled') + 1], flags[flags.indexOf('--ws.enabled') + 1]], ['false', 'false']);
        assert.ok(flags.includes('--auth.usersFile'));
      }
    }
    for (const [name, s] of Object.entries((doc.secrets ?? {}) as Obj)) assert.match(String(s.file), /^\.\/certs\//, `secret ${name} comes from deploy/docker/certs (never in git, never in the image)`);
  });

  it('Dockerfile: parses, copies what exists, builds every service the deploy files run from what it copies', () => {
    const text = readFileSync(DOCKERFILE, 'utf8');
    const { validate } = require('dockerfile-utils') as { validate(t: string): Array<{ severity: number; message: string; range: { start: { line: number } } }> };
    const problems = validate(text).filter((d) => d.severity === 1);
    assert.deepEqual(problems.map((p) => `line ${p.range.start.line + 1}: ${p.message}`), []);

    const instructions = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    const copies = instructions.filter((l) => /^COPY\s/i.test(l) && !/--from=/.test(l)).map((l) => l.split(/\s+/).slice(1, -1));
    const copied = copies.flat();
    for (const src of copied) assert.ok(existsSync(join(ROOT, src)), `COPY ${src}: exists in the repository`);
    const isCopied = (p: string) => copied.some((c) => p === c || p.startsWith(`${c.replace(/\/$/, '')}/`));

    // the build: `npx tsc -b <projects>`; every project it reaches through tsconfig references is copied
    const run = instructions.find((l) => /^RUN\s.*\bnpm ci\b/.test(l));
    assert.ok(run, 'a RUN with npm ci');
    const built = /npx tsc -b ((?:[\w./-]+\s*)+?)(?:&&|$)/.exec(run)?.[1]?.trim().split(/\s+/) ?? [];
    assert.ok(built.length >= 4, `the RUN builds named projects (got ${built.join(' ') || 'none'})`);
    const reached = new Set<string>();
    const visit = (p: string) => {
      if (reached.has(p)) return;
      reached.add(p);
      const tsconfig = JSON.parse(readFileSync(join(ROOT, p, 'tsconfig.json'), 'utf8')) as { references?: Array<{ path: string }> };
      for (const r of tsconfig.references ?? []) visit(relative(ROOT, join(ROOT, p, r.path)));
    };
    for (const p of built) visit(p);
    const missing = [...reached].filter((p) => !isCopied(p));
    assert.deepEqual(missing, [], 'projects the build needs that the Dockerfile does not copy');

    // every service script the deploy files run is one the image builds
    const scripts = new Set<string>();
    for (const f of [K8S, COMPOSE, ...readdirSync(UNITS).map((u) => join(UNITS, u))]) {
      for (const m of readFileSync(f, 'utf8').matchAll(/\b(apps\/[\w-]+)\/dist\/main\.js/g)) scripts.add(m[1]!);
    }
    assert.deepEqual([...scripts].filter((s) => !reached.has(s)), [], 'services run by the deploy files but not built in the image');

    // the ignore file keeps secrets and local builds out of the context
    const ignore = readFileSync(DOCKERIGNORE, 'utf8');
    for (const p of ['**/node_modules', '**/dist', 'deploy/docker/certs']) assert.ok(ignore.split('\n').includes(p), `Dockerfile.dockerignore lists ${p}`);

    // npm ci accepts the package files the image copies (every workspace the lock names is there)
    const tmp = mkdtempSync(join(tmpdir(), 'hawser-image-'));
    try {
      const manifests = ['package.json', 'package-lock.json'];
      // the committed workspaces (another engineer's untracked package in the shared checkout is not the image's)
      const tracked = spawnSync('git', ['ls-files', '--', '*/*/package.json'], { cwd: ROOT, encoding: 'utf8' });
      const onDisk = (dir: string) => readdirSync(join(ROOT, dir)).filter((p) => existsSync(join(ROOT, dir, p, 'package.json'))).map((p) => `${dir}/${p}/package.json`);
      for (const dir of ['apps', 'libs', 'tools']) {
        if (!isCopied(dir)) continue;
        const files = tracked.status === 0 ? tracked.stdout.split('\n').filter((f) => new RegExp(`^${dir}/[^/]+/package\\.json$`).test(f)) : onDisk(dir);
        manifests.push(...files);
      }
      for (const c of copied) if (c.endsWith('package.json') && !manifests.includes(c)) manifests.push(c);
      for (const m of manifests) { mkdirSync(dirname(join(tmp, m)), { recursive: true }); copyFileSync(join(ROOT, m), join(tmp, m)); }
      const ci = spawnSync('npm', ['ci', '--dry-run', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: tmp, encoding: 'utf8', timeout: 120_000 });
      assert.equal(ci.status, 0, `npm ci on the copied package files: ${ci.stdout.slice(-500)}${ci.stderr.slice(-1500)}`);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
