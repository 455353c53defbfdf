// Counters of a fuzz run, and how an ERROR frame is filed under a code. Pure.

export interface FuzzCounters {
  /** Frames (generated, mutated or garbage chunks) whose bytes were all handed to the socket. */
  frames: number;
  valid: number;
  mutated: number;
  garbage: number;
  bytes: number;
  connections: number;
  /** Connections the server accepted and answered a CONNECT with CONNECTED. */
  connected: number;
  /** ERROR frames by code (see errorCode). */
  errors: Record<string, number>;
  receipts: number;
  messages: number;
  /** Connections refused at the TCP level (ECONNREFUSED, ECONNRESET before anything was written). */
  connectFailures: number;
  /** Connections the server had not closed closeWaitMs after our FIN (sent after the DISCONNECT, or instead of it). */
  notClosed: number;
  /** Server output our STOMP parser could not read (a server bug), with a few samples. */
  badServerOutput: number;
  badServerSamples: string[];
  ws: { connections: number; upgraded: number; frames: number; statuses: Record<string, number> };
  grpc: { connections: number; bytes: number; requests: number; statuses: Record<string, number> };
}

export function newCounters(): FuzzCounters {
  return {
    frames: 0, valid: 0, mutated: 0, garbage: 0, bytes: 0, connections: 0, connected: 0, errors: {}, receipts: 0, messages: 0,
    connectFailures: 0, notClosed: 0, badServerOutput: 0, badServerSamples: [],
    ws: { connections: 0, upgraded: 0, frames: 0, statuses: {} },
    grpc: { connections: 0, bytes: 0, requests: 0, statuses: {} },
  };
}

export function bump(map: Record<string, number>, key: string, by = 1): void {
  map[key] = (map[key] ?? 0) + by;
}

/**
 * The code an ERROR frame is counted under: the `CODE: ` its body starts with when the store
 * refused something (e.g. `FORBIDDEN: ...`, `LIMIT_EXCEEDED: ...`), else the `message` header
 * with quoted parts, numbers and long words blanked, cut to its first words — stable across
 * runs, readable without a table ("unknown command …", "header line without ':' …").
 */
export function errorCode(message: string | undefined, body: string): string {
  const m = /^([A-Z][A-Z0-9_]{2,}): /.exec(body);
  if (m) return m[1]!;
  const text = (message ?? body).replace(/"(?:[^"\\]|\\.)*"?/g, '"…"').replace(/'[^']*'?/g, "'…'").replace(/\d+(\.\d+)?/g, 'N');
  const words = text.split(/\s+/).filter(Boolean).map((w) => (w.length > 30 ? '…' : w));
  return words.slice(0, 9).join(' ') || '(empty)';
}
