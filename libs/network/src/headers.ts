// Loop prevention across a network of groups: the headers a forwarded message carries and
// the rule that decides whether it may go on.
//
//   hawser-visited  comma list of the groups the message has left, in order ("g1,g2"):
//                   a message is never forwarded into a group named there
//                   (ActiveMQ's brokerPath, by group name).
//   hawser-hops     how many times it was forwarded (absent = 0). It may be forwarded again
//                   while hops < networkTTL (ActiveMQ networkTTL, default 1: one hop).
//
// The bridge applies the same rule twice: as a JMS selector on its subscription in the
// source group (so a queue message that must not go to the target is never handed to the
// bridge: it stays for the source's own consumers — the bridge must not take a queue
// message it cannot forward), and per delivery (decideForward) as a guard.

export const VISITED_HEADER = 'hawser-visited';
export const HOPS_HEADER = 'hawser-hops';
/** The producer's message id, kept when a replayed message needs a new one (see below). */
export const ORIGINAL_ID_HEADER = 'hawser-original-id';

/** Group names must be usable in the visited list and in a LIKE pattern. */
export const GROUP_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function parseVisited(value: string | undefined): string[] {
  if (!value) return [];
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

export function parseHops(value: string | undefined): number {
  if (value === undefined || value.trim() === '') return 0;
  const n = Number(value);
  return Number.isInteger(n) && n >= 0 ? n : 0;
}

export type ForwardDecision =
  | { forward: true; headers: Record<string, string>; id: string }
  | { forward: false; reason: 'visited' | 'ttl' | 'same-group'; detail: string };

/**
 * Whether a message consumed in `source` may be forwarded into `target`, and the headers it
 * then carries (the original ones with the source appended to hawser-visited and
 * hawser-hops + 1).
 */
export function decideForward(headers: Readonly<Record<string, string>>, source: string, target: string, networkTTL: number, replay = false, messageId = ''): ForwardDecision {
  if (source === target) return { forward: false, reason: 'same-group', detail: `source and target are both ${source}` };
  const visited = parseVisited(headers[VISITED_HEADER]);
  const hops = parseHops(headers[HOPS_HEADER]);
  if (replay) {
    // A stranded queue message (no local consumer in the source) may go back where it came
    // from and beyond the TTL (ActiveMQ replayWhenNoConsumers): it follows the consumers.
    const next: Record<string, string> = { ...headers, [VISITED_HEADER]: [...visited, source].join(','), [HOPS_HEADER]: String(hops + 1) };
    if (!visited.includes(target)) return { forward: true, headers: next, id: messageId };
    // Re-entering a group: its duplicate check still knows the original id and would drop
    // the message (and the bridge would ack it: lost). It gets an id derived from the
    // original and the hop count — distinct from every id the target saw, and the same on
    // a resend after a crash (so the target's duplicate check still makes it exactly once).
    const original = headers[ORIGINAL_ID_HEADER] || messageId;
    next[ORIGINAL_ID_HEADER] = original;
    return { forward: true, headers: next, id: `${original}~${hops + 1}` };
  }
  if (visited.includes(target)) {
    return { forward: false, reason: 'visited', detail: `the message already left ${target} (${VISITED_HEADER}: ${visited.join(',')})` };
  }
  if (hops >= networkTTL) {
    return { forward: false, reason: 'ttl', detail: `${HOPS_HEADER} ${hops} reached networkTTL ${networkTTL}` };
  }
  const nextVisited = visited[visited.length - 1] === source ? visited : [...visited, source];
  return { forward: true, headers: { ...headers, [VISITED_HEADER]: nextVisited.join(','), [HOPS_HEADER]: String(hops + 1) }, id: messageId };
}

/** A string literal for a JMS selector (JMS 1.1: a quote inside is doubled). */
function lit(s: string): string { return `'${s.replace(/'/g, "''")}'`; }

/** LIKE pattern text with % and _ escaped by '!' (ESCAPE '!'). */
function likeEsc(s: string): string { return s.replace(/[!%_]/g, (c) => `!${c}`); }

/**
 * The JMS selector of a bridge subscription in `source` forwarding to `target`: matches
 * exactly the messages decideForward lets through (target not in hawser-visited, hops <
 * networkTTL). Header names with '-' are double-quoted identifiers (ActiveMQ's extension,
 * supported by @hawser/selector); header strings compare as numbers.
 */
export function forwardSelector(target: string, networkTTL: number): string {
  const v = `"${VISITED_HEADER}"`;
  const h = `"${HOPS_HEADER}"`;
  const t = likeEsc(target);
  const notVisited = `(${v} IS NULL OR NOT (${v} = ${lit(target)} OR ${v} LIKE ${lit(`${t},%`)} ESCAPE '!' OR ${v} LIKE ${lit(`%,${t}`)} ESCAPE '!' OR ${v} LIKE ${lit(`%,${t},%`)} ESCAPE '!'))`;
  const underTtl = `(${h} IS NULL OR ${h} < ${networkTTL})`;
  return `${notVisited} AND ${underTtl}`;
}
