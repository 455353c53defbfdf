// Is the cluster alive, and how big is it: a PID's liveness and VmRSS from /proc/<pid>/status,
// an HTTP endpoint's /healthz status and process_resident_memory_bytes from its /metrics.
import { readFileSync, readdirSync } from 'node:fs';
import type { Target } from './stomp-driver';

export interface Watched {
  /** 'pid 1234' or 'http 127.0.0.1:8161'. */
  name: string;
  pid?: number;
  http?: Target;
}

export interface Sample {
  name: string;
  alive: boolean;
  /** HTTP status of /healthz (http targets), or the error. */
  health?: number | string;
  rssBytes?: number;
  /** Open file descriptors (/proc/<pid>/fd; PIDs only): sockets a server never closed show here. */
  fds?: number;
  /** Where rssBytes came from. */
  source: 'proc' | 'metrics' | 'none';
  /** From /metrics (http targets): process.memoryUsage().heapUsed and .external, and libuv's active handles. */
  heapUsedBytes?: number;
  externalBytes?: number;
  handles?: number;
  /** A store's /metrics: messages its destinations hold (sum of hawser_store_queue_depth) and how many destinations it knows. */
  heldMessages?: number;
  destinations?: number;
}

/** VmRSS (bytes) and open file descriptors of a live, non-zombie process; alive false if it is gone. */
export function procRss(pid: number): { alive: boolean; rssBytes?: number; fds?: number } {
  let text: string;
  try { text = readFileSync(`/proc/${pid}/status`, 'utf8'); } catch { return { alive: false }; }
  const state = /^State:\s+(\S)/m.exec(text)?.[1];
  if (state === 'Z' || state === 'X') return { alive: false };
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(text)?.[1];
  let fds: number | undefined;
  try { fds = readdirSync(`/proc/${pid}/fd`).length; } catch { /* not ours to read */ }
  return { alive: true, rssBytes: kb ? Number(kb) * 1024 : undefined, fds };
}

/** The first sample of a Prometheus metric, e.g. process_resident_memory_bytes (any prefix, any labels). */
export function metricValue(text: string, name: string): number | undefined {
  // Hawser's registries prefix the default metrics (hawser_process_process_resident_memory_bytes).
  const m = new RegExp(`^(?:[a-zA-Z_:][a-zA-Z0-9_:]*_)?${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

/** Sums of a counter by one label's value, e.g. hawser_gateway_errors_total by `code`. */
export function counterByLabel(text: string, name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  const re = new RegExp(`^${name}\\{([^}]*)\\} ([0-9.e+-]+)$`, 'gm');
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const v = new RegExp(`(?:^|,)${label}="([^"]*)"`).exec(m[1]!)?.[1] ?? '';
    out[v] = (out[v] ?? 0) + Number(m[2]);
  }
  return out;
}

/** The sum and the number of the samples of a gauge with labels, e.g. hawser_store_queue_depth{destination=...}; undefined if absent. */
export function gaugeSum(text: string, name: string): { sum: number; series: number } | undefined {
  // Greedy to the line's last '}': a destination name may hold one (label values escape only backslash, quote and newline).
  const re = new RegExp(`^${name}(?:\\{.*\\})? ([0-9.e+-]+)$`, 'gm');
  let sum = 0;
  let series = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) { sum += Number(m[1]); series++; }
  return series === 0 ? undefined : { sum, series };
}

/** The gateway's ERROR frames by code (hawser_gateway_errors_total) on an HTTP port; {} if it has none. */
export async function gatewayErrorCodes(t: Target, timeoutMs = 5000): Promise<Record<string, number>> {
  try { return counterByLabel((await get(t, '/metrics', timeoutMs)).body, 'hawser_gateway_errors_total', 'code'); } catch { return {}; }
}

async function get(t: Target, path: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://${t.host}:${t.port}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.text() };
}

export async function sample(w: Watched, timeoutMs = 5000): Promise<Sample> {
  if (w.pid !== undefined) {
    const p = procRss(w.pid);
    return { name: w.name, alive: p.alive, rssBytes: p.rssBytes, fds: p.fds, source: p.rssBytes === undefined ? 'none' : 'proc' };
  }
  const t = w.http!;
  let health: number | string;
  try { health = (await get(t, '/healthz', timeoutMs)).status; } catch (e) { health = (e as Error).message; }
  let text = '';
  try { text = (await get(t, '/metrics', timeoutMs)).body; } catch { /* reported as no figure */ }
  const rssBytes = metricValue(text, 'process_resident_memory_bytes');
  return {
    name: w.name, alive: health === 200, health, rssBytes, source: rssBytes === undefined ? 'none' : 'metrics',
    heapUsedBytes: metricValue(text, 'nodejs_heap_size_used_bytes'), externalBytes: metricValue(text, 'nodejs_external_memory_bytes'),
    handles: metricValue(text, 'nodejs_active_handles_total'),
    heldMessages: gaugeSum(text, 'hawser_store_queue_depth')?.sum, destinations: gaugeSum(text, 'hawser_store_queue_depth')?.series,
  };
}

export const mb = (bytes: number | undefined): string => (bytes === undefined ? '?' : `${Math.round(bytes / 1048576)} MB`);
