#!/usr/bin/env node
// What grew between two V8 heap snapshots (local.js --heap-snapshots writes one after round 1's
// full GC and one after the last round's): live objects grouped by constructor (strings, arrays,
// code and the like by their kind), count and self size in each, largest growth first; with
// `--retainers NAME`, what holds the second snapshot's NAME objects (the retainer's group and the
// edge's name), and with `--chains NAME` the chains of holders above them, to see who keeps them.
//
//   node tools/fuzz/dist/heap-diff.js A.heapsnapshot B.heapsnapshot [--top 30] [--retainers Map] [--chains Buffer [--depth 8]]
import { readFileSync } from 'node:fs';

export interface Group { count: number; size: number }

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** A snapshot's nodes: their group (constructor, or kind in parentheses) and self size, and the edges between them. */
export class HeapGraph {
  readonly groups = new Map<string, Group>();
  private readonly key: string[] = [];
  private readonly s: Snapshot;

  constructor(json: string) {
    this.s = JSON.parse(json) as Snapshot;
    const m = this.s.snapshot.meta;
    const nf = m.node_fields.length;
    const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => m.node_fields.indexOf(f)) as [number, number, number];
    const types = m.node_types[0];
    for (let i = 0; i < this.s.nodes.length; i += nf) {
      const k = groupOf(types[this.s.nodes[i + typeAt]!]!, this.s.strings[this.s.nodes[i + nameAt]!]!);
      this.key.push(k);
      const g = this.groups.get(k) ?? { count: 0, size: 0 };
      g.count++;
      g.size += this.s.nodes[i + sizeAt]!;
      this.groups.set(k, g);
    }
  }

  /** Where a node's and an edge's fields sit in the snapshot's flat arrays. */
  private layout(): { nf: number; ef: number; edgeCountAt: number; typeAt: number; nameAt: number; toAt: number; edgeTypes: string[] } {
    const m = this.s.snapshot.meta;
    const [typeAt, nameAt, toAt] = ['type', 'name_or_index', 'to_node'].map((f) => m.edge_fields.indexOf(f)) as [number, number, number];
    return { nf: m.node_fields.length, ef: m.edge_fields.length, edgeCountAt: m.node_fields.indexOf('edge_count'), typeAt, nameAt, toAt, edgeTypes: m.edge_types[0] as string[] };
  }

  /** For the nodes of group `name`: how many references come from each (retainer group).edge name, most first. */
  retainersOf(name: string, top = 15): [string, number][] {
    const { nf, ef, edgeCountAt, typeAt, nameAt, toAt, edgeTypes } = this.layout();
    const counts = new Map<string, number>();
    let e = 0;
    for (let n = 0; n < this.key.length; n++) {
      const edges = this.s.nodes[n * nf + edgeCountAt]!;
      for (let j = 0; j < edges; j++, e += ef) {
        const to = this.s.edges[e + toAt]! / nf;
        if (this.key[to] !== name) continue;
        const t = edgeTypes[this.s.edges[e + typeAt]!]!;
        if (t === 'weak') continue;
        // Element and hidden edges carry an index, a hash table's internal edges a number as their name: one label for all.
        const edgeName = t === 'element' || t === 'hidden' ? '' : this.s.strings[this.s.edges[e + nameAt]!]!;
        const label = edgeName === '' || /^\d+$/.test(edgeName) ? `[${t}]` : edgeName;
        const k = `${this.key[n]}.${label.slice(0, 60)}`;
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
    }
    return [...counts].sort((a, b) => b[1] - a[1]).slice(0, top);
  }

  /**
   * For the nodes of group `name`: their chains of holders, `depth` steps up (at each step the first
   * strong reference from an object that is not V8's own bookkeeping), most common first — the
   * path from a leaked object to whoever keeps it.
   */
  chainsOf(name: string, depth = 8, top = 10): [string, number][] {
    const { nf, ef, edgeCountAt, typeAt, nameAt, toAt, edgeTypes } = this.layout();
    // One holder per node: the first strong edge into it from outside V8's bookkeeping.
    const holder = new Int32Array(this.key.length).fill(-1);
    const via: string[] = new Array<string>(this.key.length);
    let e = 0;
    for (let n = 0; n < this.key.length; n++) {
      const edges = this.s.nodes[n * nf + edgeCountAt]!;
      const from = this.key[n]!;
      const skip = from.startsWith('(object shape') || from.startsWith('(hidden') || from === '(code)' || from.startsWith('(closure');
      for (let j = 0; j < edges; j++, e += ef) {
        const to = this.s.edges[e + toAt]! / nf;
        if (skip || holder[to] !== -1) continue;
        const t = edgeTypes[this.s.edges[e + typeAt]!]!;
        if (t === 'weak' || t === 'shortcut') continue;
        const edgeName = t === 'element' || t === 'hidden' ? '' : this.s.strings[this.s.edges[e + nameAt]!]!;
        holder[to] = n;
        via[to] = edgeName === '' || /^\d+$/.test(edgeName) ? `[${t}]` : edgeName.slice(0, 40);
      }
    }
    const counts = new Map<string, number>();
    for (let n = 0; n < this.key.length; n++) {
      if (this.key[n] !== name) continue;
      const parts: string[] = [name];
      for (let at = n, k = 0; k < depth && holder[at]! >= 0; k++) {
        parts.push(`<-${via[at]}- ${this.key[holder[at]!]}`);
        at = holder[at]!;
      }
      const path = parts.join(' ');
      counts.set(path, (counts.get(path) ?? 0) + 1);
    }
    return [...counts].sort((a, b) => b[1] - a[1]).slice(0, top);
  }
}

/** The group of a node: its constructor's name for objects, its kind (and for closures, arrays and natives its name) otherwise. */
export function groupOf(type: string, name: string): string {
  if (type === 'object') return name;
  if (type === 'closure') return `(closure ${name.slice(0, 40)})`;
  if (type === 'string' || type === 'concatenated string' || type === 'sliced string') return '(string)';
  if (type === 'array' || type === 'native' || type === 'hidden' || type === 'object shape') return `(${type} ${name.slice(0, 40)})`;
  return `(${type})`;
}

/** Groups whose size or count changed between `a` and `b`, largest size growth first. */
export function diffGroups(a: Map<string, Group>, b: Map<string, Group>): { name: string; a: Group; b: Group }[] {
  const names = new Set([...a.keys(), ...b.keys()]);
  const none: Group = { count: 0, size: 0 };
  return [...names].map((name) => ({ name, a: a.get(name) ?? none, b: b.get(name) ?? none }))
    .filter((d) => d.a.count !== d.b.count || d.a.size !== d.b.size)
    .sort((x, y) => (y.b.size - y.a.size) - (x.b.size - x.a.size));
}

function cli(argv: string[]): void {
  const files = argv.filter((a, i) => !a.startsWith('--') && !argv[i - 1]?.startsWith('--'));
  const opt = (n: string) => { const i = argv.indexOf(n); return i >= 0 ? argv[i + 1] : undefined; };
  if (files.length !== 2) {
    process.stderr.write('usage: heap-diff.js A.heapsnapshot B.heapsnapshot [--top N] [--retainers NAME] [--chains NAME [--depth N]]\n');
    process.exit(2);
  }
  const top = Number(opt('--top') ?? 30);
  const a = new HeapGraph(readFileSync(files[0]!, 'utf8'));
  const b = new HeapGraph(readFileSync(files[1]!, 'utf8'));
  const total = (g: Map<string, Group>) => [...g.values()].reduce((t, x) => ({ count: t.count + x.count, size: t.size + x.size }), { count: 0, size: 0 });
  const kb = (n: number) => `${(n / 1024).toFixed(0)} KB`;
  const ta = total(a.groups);
  const tb = total(b.groups);
  process.stdout.write(`total: ${ta.count} objects ${kb(ta.size)} -> ${tb.count} objects ${kb(tb.size)} (${tb.size >= ta.size ? '+' : ''}${kb(tb.size - ta.size)})\n`);
  process.stdout.write('size change   count a -> b          size a -> b            group\n');
  for (const d of diffGroups(a.groups, b.groups).slice(0, top)) {
    process.stdout.write(`${kb(d.b.size - d.a.size).padStart(10)}   ${String(d.a.count).padStart(8)} -> ${String(d.b.count).padEnd(8)}   ${kb(d.a.size).padStart(9)} -> ${kb(d.b.size).padEnd(9)}   ${d.name}\n`);
  }
  const c = opt('--chains');
  if (c) {
    process.stdout.write(`\nchains of holders of ${c} in ${files[1]} (count: object <-edge- holder ...)\n`);
    for (const [k, n] of b.chainsOf(c, Number(opt('--depth') ?? 8))) process.stdout.write(`${String(n).padStart(8)}  ${k}\n`);
  }
  const r = opt('--retainers');
  if (r) {
    process.stdout.write(`\nwhat holds ${r} in ${files[1]} (retainer group.edge: references)\n`);
    for (const [k, n] of b.retainersOf(r)) process.stdout.write(`${String(n).padStart(8)}  ${k}\n`);
  }
}

if (require.main === module) cli(process.argv.slice(2));
