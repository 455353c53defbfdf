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
  let rssBytes: number | undefined;
  try { rssBytes = metricValue((await get(t, '/metrics', timeoutMs)).body, 'process_resident_memory_bytes'); } catch { /* reported as no figure */ }
  return { name: w.name, alive: health === 200, health, rssBytes, source: rssBytes === undefined ? 'none' : 'metrics' };
}

export const mb = (bytes: number | undefined): string => (bytes === undefined ? '?' : `${Math.round(bytes / 1048576)} MB`);
