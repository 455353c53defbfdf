// Command-line options of the bench tools: `--name value` pairs, the flag `--json`, and
// `--help`. One-line errors name the option; the usage text ends every "unknown"/"needs a
// value" error. main() prints a UsageError and exits 0 for --help, 2 otherwise.
export class UsageError extends Error {
  readonly code = 'USAGE';
  constructor(message: string) { super(message); this.name = 'UsageError'; }
}

/** Calls `onValue(name, value, flag)` for each `--name value`; returns whether --json was given. */
export function eachOption(argv: readonly string[], usage: string, onValue: (name: string, value: string, flag: string) => void): { json: boolean } {
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') { json = true; continue; }
    if (a === '--help' || a === '-h') throw new UsageError(usage);
    if (!a.startsWith('--')) throw new UsageError(`unknown option ${a}\n${usage}`);
    const v = argv[++i];
    if (v === undefined) throw new UsageError(`${a} needs a value\n${usage}`);
    onValue(a.slice(2), v, a);
  }
  return { json };
}

/** `value` as a positive number (or >= 0 with `zero`, an integer with `integer`), else a UsageError naming `flag`. */
export function numberOption(flag: string, value: string, o: { integer?: boolean; zero?: boolean; what?: string } = {}): number {
  const n = Number(value);
  const ok = Number.isFinite(n) && (o.zero ? n >= 0 : n > 0) && (!o.integer || Number.isInteger(n));
  if (!ok) throw new UsageError(`${flag}: expected ${o.what ?? (o.integer ? 'a positive integer' : 'a positive number')}, got '${value}'`);
  return n;
}

/** Exit status for a parse failure: 0 for --help (the usage), 2 for a bad option. */
export function usageExit(e: unknown): number {
  process.stderr.write(`${(e as Error).message}\n`);
  return e instanceof UsageError && /^usage/.test((e as Error).message) ? 0 : 2;
}
