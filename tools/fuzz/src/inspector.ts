// A process's memory after a full GC, and its heap snapshots, through the V8 inspector of a
// process started with `--inspect=127.0.0.1:0` (local.js --gc-probe does that for the store it
// starts; nothing in the services changes). RSS alone cannot tell a leak from V8's headroom: V8
// lets its old generation grow to a multiple of the live heap before a major GC, so RSS swings
// by tens of MB with no leak. The heap a full GC leaves — and the Buffers it does not free — is
// what a leak would make grow.
import { createWriteStream, readFileSync } from 'node:fs';
import WebSocket from 'ws';

/** process.memoryUsage() right after HeapProfiler.collectGarbage (bytes). */
export interface MemoryAfterGc {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

/** The inspector's WebSocket URL from a process's stderr ("Debugger listening on ws://127.0.0.1:PORT/UUID"); the last one if it printed several. */
export function inspectorUrl(log: string): string | undefined {
  const all = [...log.matchAll(/Debugger listening on (ws:\/\/\S+)/g)];
  return all.length === 0 ? undefined : all[all.length - 1]![1];
}

/** The store's memory after a forced full GC, after round `after` (0: before the first), once the fuzz's destinations were deleted. */
export interface GcProbe extends MemoryAfterGc {
  after: number;
  dedupEntries?: number;
  sessions?: number;
  snapshot?: string;
  /** Resident bytes of the brk heap (glibc's main malloc arena) and of the other anonymous mappings (V8's heap pages, glibc's thread arenas, large mallocs), from /proc/<pid>/smaps. */
  brkRss?: number;
  anonRss?: number;
}

/** Resident bytes of a process's brk heap and of its other anonymous mappings (/proc/<pid>/smaps); {} if unreadable. */
export function residentBy(pid: number): { brkRss?: number; anonRss?: number } {
  let text: string;
  try { text = readFileSync(`/proc/${pid}/smaps`, 'utf8'); } catch { return {}; }
  return residentOfSmaps(text);
}

export function residentOfSmaps(text: string): { brkRss: number; anonRss: number } {
  let brkRss = 0;
  let anonRss = 0;
  let kind: 'brk' | 'anon' | 'other' = 'other';
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) { const name = head[1]!.trim(); kind = name === '[heap]' ? 'brk' : name === '' ? 'anon' : 'other'; continue; }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) { if (kind === 'brk') brkRss += Number(rss[1]) * 1024; else if (kind === 'anon') anonRss += Number(rss[1]) * 1024; }
  }
  return { brkRss, anonRss };
}

/**
 * The verdict on a run's GC probes: the JS heap in use plus external memory after the last round's
 * full GC against the same after round 1's (round 1 is the warm-up: JIT code, metric series,
 * pools; round 2 starts from there). `ok` false when it grew by more than `maxMb` (undefined: not
 * checked). Needs the probe after round 1 and a later one.
 */
export function heapVerdict(probes: readonly GcProbe[], maxMb: number | undefined): { ok: boolean; grewBytes: number; line: string } {
  const base = probes.find((p) => p.after === 1);
  const last = probes[probes.length - 1];
  if (!base || !last || last.after <= 1) return { ok: true, grewBytes: 0, line: 'no verdict: needs probes after round 1 and a later round' };
  const grewBytes = last.heapUsed + last.external - (base.heapUsed + base.external);
  const ok = maxMb === undefined || grewBytes <= maxMb * 1048576;
  const f = (b: number) => `${(b / 1048576).toFixed(1)} MB`;
  return {
    ok, grewBytes,
    line: `${ok ? 'ok' : 'FAILED'} store heap used + external after a full GC: ${f(base.heapUsed + base.external)} after round 1, `
      + `${f(last.heapUsed + last.external)} after round ${last.after} (${grewBytes >= 0 ? '+' : ''}${f(grewBytes)}${maxMb === undefined ? ', not checked' : `, bound + ${maxMb} MB`})`,
  };
}

export class InspectorClient {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly listeners = new Map<string, (params: Record<string, unknown>) => void>();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as { id?: number; method?: string; params?: Record<string, unknown>; result?: unknown; error?: { message: string } };
      if (m.id !== undefined) {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.error) p?.reject(new Error(`inspector: ${m.error.message}`)); else p?.resolve(m.result);
      } else if (m.method) this.listeners.get(m.method)?.(m.params ?? {});
    });
    ws.on('close', () => { for (const p of this.pending.values()) p.reject(new Error('inspector: connection closed')); this.pending.clear(); });
  }

  static connect(url: string, timeoutMs = 10_000): Promise<InspectorClient> {
    return new Promise((resolve, reject) => {
      // A heap snapshot chunk can be large; no payload limit below the snapshot's own size.
      const ws = new WebSocket(url, { handshakeTimeout: timeoutMs, maxPayload: 0 });
      ws.once('open', () => resolve(new InspectorClient(ws)));
      ws.once('error', reject);
    });
  }

  call<T = unknown>(method: string, params: object = {}, timeoutMs = 120_000): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => { this.pending.delete(id); reject(new Error(`inspector: ${method} took over ${timeoutMs} ms`)); }, timeoutMs);
      this.pending.set(id, { resolve: (v) => { clearTimeout(timer); resolve(v as T); }, reject: (e) => { clearTimeout(timer); reject(e); } });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Two full GCs (the second frees what the first's finalizers released), then process.memoryUsage(). */
  async memoryAfterGc(): Promise<MemoryAfterGc> {
    await this.call('HeapProfiler.collectGarbage');
    await this.call('HeapProfiler.collectGarbage');
    const r = await this.call<{ result: { value: string } }>('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true });
    return JSON.parse(r.result.value) as MemoryAfterGc;
  }

  /** HeapProfiler.takeHeapSnapshot streamed into `path` (a .heapsnapshot Chrome DevTools and heap-diff.js read); its size in bytes. */
  async heapSnapshot(path: string): Promise<number> {
    const out = createWriteStream(path);
    let bytes = 0;
    this.listeners.set('HeapProfiler.addHeapSnapshotChunk', (p) => { const s = String(p.chunk); bytes += Buffer.byteLength(s); out.write(s); });
    try {
      await this.call('HeapProfiler.takeHeapSnapshot', { reportProgress: false }, 600_000);
    } finally {
      this.listeners.delete('HeapProfiler.addHeapSnapshotChunk');
      await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
    }
    return bytes;
  }

  close(): void { this.ws.close(); }
}
