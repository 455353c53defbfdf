// The memory probe of local.js --gc-probe and heap-diff.js: against a real child process started
// with the inspector on a loopback port, a forced GC frees garbage and keeps what is held, a heap
// snapshot shows what grew and who holds it; the verdict compares the last round with round 1.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InspectorClient, inspectorUrl, heapVerdict, residentOfSmaps, type GcProbe } from './inspector';
import { HeapGraph, diffGroups, groupOf } from './heap-diff';

/** A node process with the inspector on a free loopback port; `held` grows by `Leaked` objects on every line read from stdin. */
async function child(): Promise<{ p: ChildProcess; url: string; stderr: () => string }> {
  const src = `
    class Leaked { constructor(i) { this.i = i; this.pad = 'x'.repeat(100) + i; } }
    globalThis.held = new Map();
    let n = 0;
    process.stdin.on('data', () => { for (let i = 0; i < 1000; i++) held.set(n++, new Leaked(n)); let g = []; for (let i = 0; i < 1e5; i++) g.push({ i }); process.stdout.write('ok\\n'); });
    setInterval(() => {}, 1000);`;
  const p = spawn(process.execPath, ['--inspect=127.0.0.1:0', '-e', src], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  p.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const deadline = Date.now() + 10_000;
  while (!inspectorUrl(err)) {
    if (Date.now() > deadline) { p.kill('SIGKILL'); throw new Error(`no inspector URL: ${err}`); }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { p, url: inspectorUrl(err)!, stderr: () => err };
}

const grow = (p: ChildProcess) => new Promise<void>((resolve) => { p.stdout!.once('data', () => resolve()); p.stdin!.write('x\n'); });

describe('fuzz: memory probe (inspector) and heap-diff', () => {
  it('reads the inspector URL a process prints, the last one if several', () => {
    assert.equal(inspectorUrl('Debugger listening on ws://127.0.0.1:4321/ab-cd\nFor help, see: ...\n'), 'ws://127.0.0.1:4321/ab-cd');
    assert.equal(inspectorUrl('Debugger listening on ws://127.0.0.1:1/a\nDebugger listening on ws://127.0.0.1:2/b\n'), 'ws://127.0.0.1:2/b');
    assert.equal(inspectorUrl('store ready'), undefined);
  });

  it('a forced GC leaves what is held, and two snapshots show the growing constructor and its holder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hawser-fuzz-probe-'));
    const { p, url } = await child();
    const inspector = await InspectorClient.connect(url);
    try {
      await grow(p);
      const a = await inspector.memoryAfterGc();
      await inspector.heapSnapshot(join(dir, 'a.heapsnapshot'));
      for (let i = 0; i < 5; i++) await grow(p);
      const b = await inspector.memoryAfterGc();
      await inspector.heapSnapshot(join(dir, 'b.heapsnapshot'));
      // 5,000 more Leaked (~100-byte strings each) are held; the 500,000 { i } of garbage are not.
      assert.ok(b.heapUsed - a.heapUsed > 5000 * 100, `heap used ${a.heapUsed} -> ${b.heapUsed}`);
      assert.ok(b.heapUsed - a.heapUsed < 5e5 * 16, `garbage was not collected: ${a.heapUsed} -> ${b.heapUsed}`);
      const ga = new HeapGraph(readFileSync(join(dir, 'a.heapsnapshot'), 'utf8'));
      const gb = new HeapGraph(readFileSync(join(dir, 'b.heapsnapshot'), 'utf8'));
      assert.equal(ga.groups.get('Leaked')?.count, 1000);
      assert.equal(gb.groups.get('Leaked')?.count, 6000);
      const d = diffGroups(ga.groups, gb.groups);
      const leaked = d.find((x) => x.name === 'Leaked')!;
      assert.equal(leaked.b.count - leaked.a.count, 5000);
      assert.ok(d.slice(0, 5).some((x) => x.name === 'Leaked' || x.name === '(string)'), d.slice(0, 5).map((x) => x.name).join(', '));
      const [top] = gb.retainersOf('Leaked');
      assert.match(top![0], /^\(array /, `Leaked held by ${top![0]}`); // the Map's backing table
      assert.equal(top![1], 6000);
      const [chain] = gb.chainsOf('Leaked', 3);
      assert.match(chain![0], /^Leaked <-\[internal\]- \(array \) <-table- Map <-held- /, chain![0]);
      assert.equal(chain![1], 6000);
    } finally {
      inspector.close();
      p.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the verdict: heap used + external after the last round against after round 1, with the bound', () => {
    const MB = 1048576;
    const at = (after: number, heapUsed: number, external: number): GcProbe => ({ after, heapUsed: heapUsed * MB, external: external * MB, rss: 0, heapTotal: 0, arrayBuffers: 0 });
    const probes = [at(0, 12, 2), at(1, 21, 6), at(2, 30, 9), at(3, 24, 7)];
    assert.deepEqual({ ...heapVerdict(probes, 5), line: undefined }, { ok: true, grewBytes: 4 * MB, line: undefined });
    assert.equal(heapVerdict(probes, 3).ok, false);
    assert.match(heapVerdict(probes, 3).line, /^FAILED .* 27\.0 MB after round 1, 31\.0 MB after round 3 \(\+4\.0 MB, bound \+ 3 MB\)/);
    assert.equal(heapVerdict(probes, undefined).ok, true);
    assert.match(heapVerdict([at(0, 1, 1), at(1, 2, 2)], 1).line, /^no verdict/);
  });

  it('resident memory by kind from /proc/<pid>/smaps: the brk heap, other anonymous mappings, files left out', () => {
    const smaps = [
      '55d0c0000000-55d0c8000000 rw-p 00000000 00:00 0                          [heap]', 'Size:  131072 kB', 'Rss:   98276 kB',
      '7f0000000000-7f0004000000 rw-p 00000000 00:00 0 ', 'Size:   65536 kB', 'Rss:    1000 kB',
      '7f1000000000-7f1000100000 rw-p 00000000 00:00 0', 'Rss:      24 kB',
      '55d0b0000000-55d0b2000000 r-xp 00000000 08:01 123                        /usr/bin/node', 'Rss:   43652 kB',
    ].join('\n');
    assert.deepEqual(residentOfSmaps(smaps), { brkRss: 98276 * 1024, anonRss: 1024 * 1024 });
    assert.ok((residentOfSmaps(readFileSync('/proc/self/smaps', 'utf8')).anonRss) > 0);
  });

  it('groups: objects by constructor, strings together, arrays and natives by kind and name', () => {
    assert.equal(groupOf('object', 'Map'), 'Map');
    assert.equal(groupOf('closure', 'onData'), '(closure onData)');
    assert.equal(groupOf('concatenated string', 'abc'), '(string)');
    assert.equal(groupOf('array', '(object elements)'), '(array (object elements))');
    assert.equal(groupOf('code', 'x'), '(code)');
  });
});
