// The Grafana dashboard (deploy/grafana/hawser.json) and the Prometheus rules
// (deploy/prometheus/hawser-rules.yaml) name only metrics the services export and
// docs/metrics.md documents: every PromQL expression is parsed with Prometheus's own grammar
// (@prometheus-io/lezer-promql), its metric names collected, and each looked up in the
// /metrics of real processes (stores, a gateway, a coordinator, a bridge) and in the docs.
// promtool (Debian's prometheus package) checks the rules file and runs its unit tests.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { Cluster } from './cluster';
import { ROOT, httpGet } from './harness';

const DASHBOARD = join(ROOT, 'deploy/grafana/hawser.json');
const RULES = join(ROOT, 'deploy/prometheus/hawser-rules.yaml');
const RULE_TESTS = join(ROOT, 'deploy/prometheus/hawser-rules.test.yaml');

interface Expr { where: string; expr: string }

/** Grafana's variables made into something PromQL parses: $__rate_interval a duration, $x a name. */
function ungrafana(expr: string): string {
  return expr.replace(/\$__(rate_)?interval|\$__range/g, '5m').replace(/\$\{?(\w+)\}?/g, 'v_$1');
}

/** Every PromQL expression of the dashboard: panel targets (rows' panels too) and query variables. */
export function dashboardExprs(dash: Record<string, unknown>): Expr[] {
  const out: Expr[] = [];
  const visit = (panels: unknown, path: string) => {
    for (const p of (panels as Array<Record<string, unknown>>) ?? []) {
      const title = `${path}/${String(p.title ?? p.id)}`;
      for (const t of (p.targets as Array<Record<string, unknown>> | undefined) ?? []) {
        if (typeof t.expr === 'string') out.push({ where: `panel ${title} ${String(t.refId)}`, expr: t.expr });
      }
      visit(p.panels, title);
    }
  };
  visit(dash.panels, '');
  const vars = ((dash.templating as { list?: Array<Record<string, unknown>> } | undefined)?.list) ?? [];
  for (const v of vars) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : String((v.query as { query?: unknown } | undefined)?.query ?? '');
    // label_values(<selector>, label) / query_result(<expr>): the PromQL inside
    const m = /^\s*(?:label_values|query_result)\((.*)\)\s*$/s.exec(q);
    const inner = m ? m[1]!.replace(/,\s*\w+\s*$/, '') : q;
    if (inner.trim()) out.push({ where: `variable $${String(v.name)}`, expr: inner });
  }
  return out;
}

/** Every `expr` of the rules file. */
export function ruleExprs(doc: { groups?: Array<{ name: string; rules?: Array<{ alert?: string; record?: string; expr: unknown }> }> }): Expr[] {
  return (doc.groups ?? []).flatMap((g) => (g.rules ?? []).map((r) => ({ where: `rule ${g.name}/${r.alert ?? r.record}`, expr: String(r.expr) })));
}

/** The metric names an expression selects, by Prometheus's PromQL grammar; throws on a syntax error. */
export async function metricNames(e: Expr): Promise<string[]> {
  const { parser } = await import('@prometheus-io/lezer-promql');
  const text = ungrafana(e.expr);
  const tree = parser.parse(text);
  const names: string[] = [];
  const c = tree.cursor();
  do {
    if (c.type.isError) throw new Error(`${e.where}: PromQL syntax error at ${c.from} in ${JSON.stringify(text)}`);
    if (c.name === 'Identifier' && c.node.parent?.name === 'VectorSelector') names.push(text.slice(c.from, c.to));
  } while (c.next());
  return names;
}

/** Metric families of a /metrics page: name -> type. */
export function exposition(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) out.set(m[1]!, m[2]!);
  return out;
}

/** The family a sample name belongs to: x_bucket/_sum/_count of a histogram or summary is x. */
function family(name: string, known: Map<string, string>): string {
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (m && ['histogram', 'summary'].includes(known.get(m[1]!) ?? '')) return m[1]!;
  return name;
}

/** Names docs/metrics.md documents (backticked), the bridge's from its README section, the process prefix. */
function documented(): { has: (name: string) => boolean } {
  const md = readFileSync(join(ROOT, 'docs/metrics.md'), 'utf8');
  const names = new Set([...md.matchAll(/`(hawser_[a-z0-9_]+)`/g)].map((m) => m[1]!));
  // docs/metrics.md sends the bridge's to apps/bridge/README.md ("## Metrics (`hawser_bridge_*`)": short names)
  const readme = readFileSync(join(ROOT, 'apps/bridge/README.md'), 'utf8');
  const section = /## Metrics \(`hawser_bridge_\*`\)([\s\S]*?)\n## /.exec(readme)?.[1] ?? '';
  for (const m of section.matchAll(/`([a-z_]+)[{`]/g)) names.add(`hawser_bridge_${m[1]}`);
  const processPrefix = /prefix `hawser_process_`/.test(md);
  return { has: (n) => names.has(n) || (processPrefix && n.startsWith('hawser_process_')) };
}

describe('dashboard and alert rules name only exported, documented metrics', { timeout: 180_000 }, () => {
  let c: Cluster;
  const exported = new Map<string, string>();
  const seenOn = new Map<string, Set<string>>();

  before(async () => {
    c = await Cluster.start({ name: 'dashboards', stores: 1, replicas: 1, coordinators: 1, gateways: 1 });
    const g2 = await Cluster.join(c, { group: 'g2', stores: 1, replicas: 1, gateways: 0 });
    const bridge = await c.startBridge([c, g2]);
    await bridge.waitState('active');
    const pages: Array<[string, number]> = [
      ['store', c.stores[0]!.httpPort], ['gateway', c.gateway.httpPort], ['coordinator', c.coordinators[0]!.httpPort], ['bridge', bridge.httpPort],
    ];
    for (const [svc, port] of pages) {
      const r = await httpGet(port, '/metrics');
      assert.equal(r.status, 200, `${svc} /metrics`);
      for (const [name, type] of exposition(r.body)) {
        exported.set(name, type);
        if (!seenOn.has(name)) seenOn.set(name, new Set());
        seenOn.get(name)!.add(svc);
      }
    }
  });
  afterEach((t) => c.reportIfFailed(t));
  after(() => c?.close());

  const check = async (exprs: Expr[]) => {
    const docs = documented();
    const used = new Map<string, string[]>();
    for (const e of exprs) for (const n of await metricNames(e)) used.set(n, [...(used.get(n) ?? []), e.where]);
    const unknown: string[] = [];
    const undocumented: string[] = [];
    for (const [n, where] of used) {
      const f = family(n, exported);
      if (!exported.has(f)) unknown.push(`${n} (in ${where.slice(0, 3).join('; ')})`);
      else if (!docs.has(f)) undocumented.push(`${f} (in ${where[0]})`);
    }
    assert.deepEqual(unknown, [], `metrics no service exports:\n  ${unknown.join('\n  ')}`);
    assert.deepEqual(undocumented, [], `metrics docs/metrics.md does not document:\n  ${undocumented.join('\n  ')}`);
    return used;
  };

  it('the services export what the check expects (sanity)', () => {
    for (const [n, svc] of [['hawser_store_role', 'store'], ['hawser_gateway_receipt_seconds', 'gateway'], ['hawser_coordinator_group_state', 'coordinator'], ['hawser_bridge_link_state', 'bridge']] as const) {
      assert.ok(seenOn.get(n)?.has(svc), `${svc} exports ${n}`);
    }
    assert.equal(exported.get('hawser_gateway_receipt_seconds'), 'histogram');
  });

  it('the checker reports a name nobody exports and a PromQL syntax error', async () => {
    await assert.rejects(check([{ where: 'test', expr: 'rate(hawser_store_nonexistent_total[5m]) + hawser_store_role' }]), /hawser_store_nonexistent_total \(in test\)/);
    await assert.rejects(metricNames({ where: 'test', expr: 'sum by (group (hawser_store_role)' }), /PromQL syntax error/);
  });

  it('every metric of deploy/grafana/hawser.json', async (t) => {
    const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Record<string, unknown>;
    const exprs = dashboardExprs(dash);
    assert.ok(exprs.length >= 30, `${exprs.length} expressions found`);
    const used = await check(exprs);
    t.diagnostic(`${exprs.length} expressions, ${used.size} metrics: all exported and documented`);
  });

  it('every metric of deploy/prometheus/hawser-rules.yaml', async (t) => {
    const exprs = ruleExprs(parseYaml(readFileSync(RULES, 'utf8')) as Parameters<typeof ruleExprs>[0]);
    assert.ok(exprs.length >= 10, `${exprs.length} rules found`);
    const used = await check(exprs);
    t.diagnostic(`${exprs.length} rules, ${used.size} metrics: all exported and documented`);
  });

  it('promtool: the rules file is valid and its unit tests pass (each alert fires on a broken cluster\'s series)', () => {
    const which = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
    assert.equal(which.error, undefined, 'promtool is missing: run tools/scripts/setup.sh (Debian package prometheus)');
    const checked = spawnSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
    assert.equal(checked.status, 0, checked.stdout + checked.stderr);
    const tested = spawnSync('promtool', ['test', 'rules', RULE_TESTS], { encoding: 'utf8', cwd: join(ROOT, 'deploy/prometheus') });
    assert.equal(tested.status, 0, tested.stdout + tested.stderr);
    assert.match(tested.stdout, /SUCCESS/);
  });
});
