// Command-line parsing for the hawser CLI: pure (argv in, typed values or UsageError out),
// one declarative spec per command, which also renders its --help.
//
// Syntax: `--name value`, `--name=value`, boolean flags `--name` (or `--name=false`),
// repeatable list options (`--header a=1 --header b=2`), `--` ends the options, a lone `-`
// is a positional (stdin). Unknown options and bad values are UsageErrors naming the option.
import { UsageError } from './errors';

export type OptionType = 'string' | 'int' | 'bool' | 'list';

export interface OptionSpec {
  name: string;
  type: OptionType;
  help: string;
  /** Shown in --help and used when the option is absent. */
  default?: string | number | boolean;
  /** Allowed values (string options). */
  values?: readonly string[];
  /** Smallest allowed value (int options). */
  min?: number;
  /** Placeholder in --help, e.g. 'N', 'ms', 'host:port'. */
  arg?: string;
}

export interface PositionalSpec {
  name: string;
  help: string;
  required?: boolean;
}

export interface CommandSpec {
  name: string;
  summary: string;
  positionals: PositionalSpec[];
  options: OptionSpec[];
  /** Extra paragraphs for --help. */
  details?: string;
  examples?: string[];
}

export type OptionValue = string | number | boolean | string[] | undefined;

export class ParsedArgs {
  readonly command: string;
  readonly positionals: string[];
  readonly help: boolean;
  private readonly values: Map<string, OptionValue>;
  /** Options the user gave explicitly (not defaults). */
  readonly given: ReadonlySet<string>;

  constructor(command: string, positionals: string[], values: Map<string, OptionValue>, given: Set<string>, help: boolean) {
    this.command = command;
    this.positionals = positionals;
    this.values = values;
    this.given = given;
    this.help = help;
  }

  has(name: string): boolean { return this.given.has(name); }
  str(name: string): string | undefined { return this.get(name, 'string') as string | undefined; }
  int(name: string): number | undefined { return this.get(name, 'number') as number | undefined; }
  bool(name: string): boolean { return (this.get(name, 'boolean') as boolean | undefined) ?? false; }
  list(name: string): string[] { return (this.values.get(name) as string[] | undefined) ?? []; }

  private get(name: string, kind: string): OptionValue {
    if (!this.values.has(name)) throw new Error(`bug: option --${name} is not declared for ${this.command}`);
    const v = this.values.get(name);
    if (v !== undefined && typeof v !== kind) throw new Error(`bug: option --${name} is not a ${kind}`);
    return v;
  }
}

function find(spec: CommandSpec, name: string): OptionSpec | undefined {
  return spec.options.find((o) => o.name === name);
}

function convert(spec: CommandSpec, opt: OptionSpec, raw: string): string | number | boolean {
  switch (opt.type) {
    case 'int': {
      if (!/^-?\d+$/.test(raw.trim())) throw new UsageError(`--${opt.name}: expected an integer, got '${raw}'`, spec.name);
      const n = Number(raw);
      if (opt.min !== undefined && n < opt.min) throw new UsageError(`--${opt.name}: must be at least ${opt.min}, got ${n}`, spec.name);
      return n;
    }
    case 'bool':
      if (raw === 'true' || raw === '1' || raw === 'yes') return true;
      if (raw === 'false' || raw === '0' || raw === 'no') return false;
      throw new UsageError(`--${opt.name}: expected true or false, got '${raw}'`, spec.name);
    default:
      if (opt.values && !opt.values.includes(raw)) {
        throw new UsageError(`--${opt.name}: expected one of ${opt.values.join(', ')}, got '${raw}'`, spec.name);
      }
      return raw;
  }
}

/** Parses the arguments after the command name. */
export function parseArgs(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const values = new Map<string, OptionValue>();
  for (const o of spec.options) values.set(o.name, o.type === 'list' ? [] : o.default);
  const given = new Set<string>();
  const positionals: string[] = [];
  let help = false;
  let optionsDone = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (optionsDone || a === '-' || !a.startsWith('-')) { positionals.push(a); continue; }
    if (a === '--') { optionsDone = true; continue; }
    if (a === '-h' || a === '--help') { help = true; continue; }
    if (!a.startsWith('--')) throw new UsageError(`unknown option '${a}' (options are spelled --name)`, spec.name);
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    const opt = find(spec, name);
    if (!opt) throw new UsageError(`unknown option --${name} for '${spec.name}'`, spec.name);
    let raw: string;
    if (eq >= 0) raw = a.slice(eq + 1);
    else if (opt.type === 'bool') raw = 'true';
    else {
      const next = argv[i + 1];
      if (next === undefined) throw new UsageError(`--${name} needs a value${opt.arg ? ` (${opt.arg})` : ''}`, spec.name);
      raw = next;
      i++;
    }
    given.add(name);
    const v = convert(spec, opt, raw);
    if (opt.type === 'list') (values.get(name) as string[]).push(String(v));
    else values.set(name, v);
  }
  if (!help) {
    const required = spec.positionals.filter((p) => p.required).length;
    if (positionals.length < required) {
      throw new UsageError(`missing <${spec.positionals[positionals.length]!.name}>: usage: ${usageLine(spec)}`, spec.name);
    }
    if (positionals.length > spec.positionals.length) {
      throw new UsageError(`unexpected argument '${positionals[spec.positionals.length]}': usage: ${usageLine(spec)}`, spec.name);
    }
  }
  return new ParsedArgs(spec.name, positionals, values, given, help);
}

/** `hawser send <destination> [body] [options]` */
export function usageLine(spec: CommandSpec): string {
  const pos = spec.positionals.map((p) => (p.required ? `<${p.name}>` : `[${p.name}]`)).join(' ');
  return `hawser ${spec.name}${pos ? ` ${pos}` : ''}${spec.options.length ? ' [options]' : ''}`;
}

/** The text of `hawser <command> --help`. */
export function helpText(spec: CommandSpec): string {
  const lines = [`Usage: ${usageLine(spec)}`, '', spec.summary];
  if (spec.details) lines.push('', spec.details);
  if (spec.positionals.length) {
    lines.push('', 'Arguments:');
    const w = Math.max(...spec.positionals.map((p) => p.name.length));
    for (const p of spec.positionals) lines.push(`  ${p.name.padEnd(w)}  ${p.help}`);
  }
  if (spec.options.length) {
    lines.push('', 'Options:');
    const left = spec.options.map((o) => `--${o.name}${o.type === 'bool' ? '' : ` <${o.arg ?? (o.values ? o.values.join('|') : o.type === 'int' ? 'n' : 'value')}>`}`);
    const w = Math.max(...left.map((l) => l.length), '-h, --help'.length);
    spec.options.forEach((o, i) => {
      const def = o.default === undefined || o.default === false ? '' : ` (default: ${o.default})`;
      const rep = o.type === 'list' ? ' (repeatable)' : '';
      lines.push(`  ${left[i]!.padEnd(w)}  ${o.help}${def}${rep}`);
    });
    lines.push(`  ${'-h, --help'.padEnd(w)}  show this help`);
  }
  if (spec.examples?.length) {
    lines.push('', 'Examples:');
    for (const e of spec.examples) lines.push(`  ${e}`);
  }
  return lines.join('\n') + '\n';
}

/** Splits `k=v` (the value may contain '='). */
export function parseKeyValue(option: string, raw: string, command: string): [string, string] {
  const eq = raw.indexOf('=');
  if (eq <= 0) throw new UsageError(`--${option}: expected key=value, got '${raw}'`, command);
  return [raw.slice(0, eq), raw.slice(eq + 1)];
}

/** `host:port` (port 1-65535). */
export function parseHostPort(option: string, raw: string, command: string): string {
  const m = /^(\[[^\]]+\]|[^:\s]+):(\d{1,5})$/.exec(raw.trim());
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    throw new UsageError(`--${option}: expected host:port, got '${raw}'`, command);
  }
  return raw.trim();
}
