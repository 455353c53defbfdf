// Typed service options from one schema, loaded from a JSON file, the environment and
// command-line flags with the same names:
//
//   file  { "stomp": { "maxFrameSize": 65536 } }
//   env   HAWSER_STOMP_MAX_FRAME_SIZE=65536
//   flag  --stomp.maxFrameSize=65536   (or --stomp.maxFrameSize 65536)
//
// Precedence: defaults < file (--config / HAWSER_CONFIG) < environment < flags.
// Every value is validated once, at start; a bad one is a ConfigError naming the key and
// where the value came from — never a stack trace (see runService).
import { readFileSync } from 'node:fs';

export type FieldType = 'string' | 'int' | 'number' | 'bool' | 'enum' | 'list';

export interface Field<T = unknown> {
  type: FieldType;
  default: T;
  doc: string;
  min?: number;
  max?: number;
  values?: readonly string[];
  /** Accept an empty string (strings only). Default true. */
  allowEmpty?: boolean;
}

export interface Schema { [key: string]: Field | Schema }

type FieldValue<F> = F extends Field<infer T> ? T : never;
export type ConfigOf<S> = { -readonly [K in keyof S]: S[K] extends Field ? FieldValue<S[K]> : ConfigOf<S[K]> };

export function str(def: string, doc: string, extra: Partial<Field<string>> = {}): Field<string> {
  return { type: 'string', default: def, doc, ...extra };
}
export function int(def: number, doc: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): Field<number> {
  return { type: 'int', default: def, doc, min, max };
}
export function num(def: number, doc: string, min = -Infinity, max = Infinity): Field<number> {
  return { type: 'number', default: def, doc, min, max };
}
export function bool(def: boolean, doc: string): Field<boolean> {
  return { type: 'bool', default: def, doc };
}
export function oneOf<T extends string>(def: T, values: readonly T[], doc: string): Field<T> {
  return { type: 'enum', default: def, doc, values };
}
export function list(def: string[], doc: string): Field<string[]> {
  return { type: 'list', default: def, doc };
}
export function port(def: number, doc: string): Field<number> {
  return int(def, doc, 0, 65535);
}

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  readonly key: string;
  constructor(key: string, message: string, options?: { cause?: unknown }) {
    super(key ? `${key}: ${message}` : message, options);
    this.name = 'ConfigError';
    this.key = key;
  }
}

function isField(x: Field | Schema): x is Field {
  return typeof (x as Field).type === 'string' && 'default' in x && typeof (x as Field).doc === 'string';
}

/** camelCase key path -> HAWSER_SECTION_CAMEL_CASE */
export function envName(path: string): string {
  return 'HAWSER_' + path.split('.').map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_');
}

export function fields(schema: Schema, prefix = ''): Array<[string, Field]> {
  const out: Array<[string, Field]> = [];
  for (const [k, v] of Object.entries(schema)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (isField(v)) out.push([path, v]);
    else out.push(...fields(v, path));
  }
  return out;
}

function coerce(path: string, f: Field, raw: unknown, source: string): unknown {
  const where = ` (from ${source})`;
  const shown = typeof raw === 'string' ? `'${raw}'` : JSON.stringify(raw);
  switch (f.type) {
    case 'string': {
      if (typeof raw !== 'string') throw new ConfigError(path, `expected a string, got ${shown}${where}`);
      if (raw === '' && f.allowEmpty === false) throw new ConfigError(path, `must not be empty${where}`);
      return raw;
    }
    case 'int':
    case 'number': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
      const what = f.type === 'int' ? 'an integer' : 'a number';
      if (!Number.isFinite(n) || (f.type === 'int' && !Number.isInteger(n))) {
        throw new ConfigError(path, `expected ${what}, got ${shown}${where}`);
      }
      if ((f.min !== undefined && n < f.min) || (f.max !== undefined && n > f.max)) {
        throw new ConfigError(path, `expected ${what} from ${f.min} to ${f.max}, got ${n}${where}`);
      }
      return n;
    }
    case 'bool': {
      if (typeof raw === 'boolean') return raw;
      if (typeof raw === 'string' && /^(true|1|yes|on)$/i.test(raw)) return true;
      if (typeof raw === 'string' && /^(false|0|no|off)$/i.test(raw)) return false;
      throw new ConfigError(path, `expected true or false, got ${shown}${where}`);
    }
    case 'enum': {
      if (typeof raw !== 'string' || !f.values!.includes(raw)) {
        throw new ConfigError(path, `expected one of ${f.values!.join(', ')}, got ${shown}${where}`);
      }
      return raw;
    }
    case 'list': {
      if (Array.isArray(raw) && raw.every((x) => typeof x === 'string')) return raw;
      if (typeof raw === 'string') return raw.split(',').map((s) => s.trim()).filter(Boolean);
      throw new ConfigError(path, `expected a comma-separated list, got ${shown}${where}`);
    }
  }
}

export interface LoadOptions {
  argv?: string[];
  env?: NodeJS.ProcessEnv;
  /** A parsed config object (instead of / besides --config). */
  file?: Record<string, unknown>;
}

export interface Loaded<S extends Schema> {
  config: ConfigOf<S>;
  /** Positional arguments left over after flags. */
  rest: string[];
  help: boolean;
}

function parseFlags(argv: string[]): { flags: Map<string, string>; rest: string[]; help: boolean } {
  const flags = new Map<string, string>();
  const rest: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') { help = true; continue; }
    if (!a.startsWith('--')) { rest.push(a); continue; }
    const eq = a.indexOf('=');
    if (eq > 0) { flags.set(a.slice(2, eq), a.slice(eq + 1)); continue; }
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) { flags.set(a.slice(2), next); i++; }
    else flags.set(a.slice(2), 'true');
  }
  return { flags, rest, help };
}

function readFileConfig(path: string): Record<string, unknown> {
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch (e) {
    throw new ConfigError('config', `cannot read config file ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const v = JSON.parse(text);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('top level must be an object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new ConfigError('config', `config file ${path} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
}

function flatten(obj: Record<string, unknown>, prefix = '', out = new Map<string, unknown>()): Map<string, unknown> {
  for (const [k, v] of Object.entries(obj)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) flatten(v as Record<string, unknown>, path, out);
    else out.set(path, v);
  }
  return out;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const p of parts.slice(0, -1)) node = (node[p] ??= {}) as Record<string, unknown>;
  node[parts[parts.length - 1]!] = value;
}

export function loadConfig<S extends Schema>(schema: S, opts: LoadOptions = {}): Loaded<S> {
  const env = opts.env ?? process.env;
  const { flags, rest, help } = parseFlags(opts.argv ?? process.argv.slice(2));
  const known = new Map(fields(schema));

  const sources = new Map<string, { raw: unknown; source: string }>();
  const fileSources: Array<[Record<string, unknown>, string]> = [];
  if (opts.file) fileSources.push([opts.file, 'the given config']);
  const filePath = flags.get('config') ?? env.HAWSER_CONFIG;
  if (filePath) fileSources.push([readFileConfig(filePath), `config file ${filePath}`]);
  for (const [obj, source] of fileSources) {
    for (const [path, raw] of flatten(obj)) {
      if (!known.has(path)) throw new ConfigError(path, `unknown key in ${source}`);
      sources.set(path, { raw, source });
    }
  }
  for (const path of known.keys()) {
    const name = envName(path);
    if (env[name] !== undefined) sources.set(path, { raw: env[name], source: `environment ${name}` });
  }
  for (const [path, raw] of flags) {
    if (path === 'config') continue;
    if (!known.has(path)) throw new ConfigError(path, `unknown option --${path} (see --help)`);
    sources.set(path, { raw, source: `flag --${path}` });
  }

  const config: Record<string, unknown> = {};
  for (const [path, f] of known) {
    const given = sources.get(path);
    const value = given ? coerce(path, f, given.raw, given.source) : structuredClone(f.default);
    setPath(config, path, value);
  }
  return { config: config as ConfigOf<S>, rest, help };
}

/** Text for --help: every key with its env name, default and doc. */
export function helpText(service: string, schema: Schema): string {
  const lines = [`usage: ${service} [--config file.json] [--key value ...]`, '', 'Options (flag / environment variable / default):'];
  for (const [path, f] of fields(schema)) {
    const def = Array.isArray(f.default) ? f.default.join(',') : String(f.default);
    const range = f.values ? ` (${f.values.join('|')})` : f.type === 'int' && f.min !== undefined && f.min > Number.MIN_SAFE_INTEGER ? ` (${f.min}..${f.max})` : '';
    lines.push(`  --${path}  ${envName(path)}  [${def}]${range}`, `      ${f.doc}`);
  }
  return lines.join('\n');
}

/**
 * Loads the options and runs `main`; a ConfigError prints one clear line and exits 2,
 * --help prints the options and exits 0.
 */
export function runService<S extends Schema>(service: string, schema: S, main: (config: ConfigOf<S>, rest: string[]) => Promise<unknown> | unknown): void {
  let loaded: Loaded<S>;
  try {
    loaded = loadConfig(schema);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${service}: config error: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  if (loaded.help) {
    process.stdout.write(helpText(service, schema) + '\n');
    process.exit(0);
  }
  Promise.resolve()
    .then(() => main(loaded.config, loaded.rest))
    .catch((e: unknown) => {
      const err = e as Error & { code?: string };
      if (e instanceof ConfigError) process.stderr.write(`${service}: config error: ${err.message}\n`);
      else process.stderr.write(`${service}: failed to start: ${err.code ? `[${err.code}] ` : ''}${err.message}\n`);
      process.exit(e instanceof ConfigError ? 2 : 1);
    });
}
