// Destination filters with ActiveMQ's wildcards (excludedDestinations,
// staticallyIncludedDestinations). A destination name's path is split into segments at '.':
//   '*'  matches exactly one segment          /queue/orders.*  ~ /queue/orders.eu
//   '>'  matches the rest, zero or more segs  /queue/orders.>  ~ /queue/orders, /queue/orders.eu.x
// ActiveMQ: `>` may only end a pattern; its PrefixDestinationFilter lets "A.>" match "A" too
// ("want to look for the case where A matches A.>"), and so do we.
//
// A pattern either names the kind ("/queue/x.>", "/topic/*.prices") or not ("x.>", matching
// queues and topics alike).

export type DestinationKind = 'queue' | 'topic';

export class FilterError extends Error {
  readonly code = 'INVALID_DESTINATION_FILTER';
  constructor(readonly pattern: string, message: string) {
    super(`destination filter '${pattern}': ${message}`);
    this.name = 'FilterError';
  }
}

/** "/queue/a.b" -> { kind: 'queue', path: 'a.b' }; anything else (durable:..., /temp-queue/...) -> null. */
export function parseDestination(name: string): { kind: DestinationKind; path: string } | null {
  if (name.startsWith('/queue/') && name.length > 7) return { kind: 'queue', path: name.slice(7) };
  if (name.startsWith('/topic/') && name.length > 7) return { kind: 'topic', path: name.slice(7) };
  return null;
}

export interface DestinationFilter {
  readonly pattern: string;
  /** The kind the pattern is limited to, or null for both. */
  readonly kind: DestinationKind | null;
  /** True when the pattern has no wildcard (it names one destination). */
  readonly concrete: boolean;
  matches(destination: string): boolean;
}

export function compileFilter(pattern: string): DestinationFilter {
  const p = pattern.trim();
  if (!p) throw new FilterError(pattern, 'empty pattern');
  let kind: DestinationKind | null = null;
  let path = p;
  const parsed = parseDestination(p);
  if (parsed) { kind = parsed.kind; path = parsed.path; }
  else if (p.startsWith('/')) throw new FilterError(pattern, 'expected /queue/<name>, /topic/<name> or a bare name');
  const segs = path.split('.');
  segs.forEach((s, i) => {
    if (s === '') throw new FilterError(pattern, 'empty segment (two dots, or a dot at an end)');
    if (s === '>' && i !== segs.length - 1) throw new FilterError(pattern, "'>' may only be the last segment");
  });
  const concrete = !segs.some((s) => s === '*' || s === '>');
  return {
    pattern: p,
    kind,
    concrete,
    matches(destination: string): boolean {
      const d = parseDestination(destination);
      if (!d || (kind && d.kind !== kind)) return false;
      return matchSegments(segs, d.path.split('.'));
    },
  };
}

function matchSegments(pat: string[], name: string[]): boolean {
  for (let i = 0; i < pat.length; i++) {
    const s = pat[i]!;
    if (s === '>') return true; // zero or more remaining segments
    if (i >= name.length) return false;
    if (s !== '*' && s !== name[i]) return false;
  }
  return pat.length === name.length;
}

/** Compiles a list; an empty list matches nothing. */
export function compileFilters(patterns: readonly string[]): DestinationFilter[] {
  return patterns.filter((p) => p.trim() !== '').map(compileFilter);
}

export function anyMatches(filters: readonly DestinationFilter[], destination: string): boolean {
  return filters.some((f) => f.matches(destination));
}
