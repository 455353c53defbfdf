// Output formatting for the CLI: aligned text tables, one-JSON-object-per-line messages,
// numbers for humans. Pure: strings in, strings out.
import { isUtf8 } from 'node:buffer';

export type Align = 'left' | 'right';

export interface Column<T> {
  title: string;
  value: (row: T) => string | number | boolean | undefined | null;
  align?: Align;
}

/** An aligned table: a header line, then one line per row; columns separated by two spaces. */
export function table<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((r) => columns.map((c) => cell(c.value(r))));
  const widths = columns.map((c, i) => Math.max(c.title.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: string[]) => values
    .map((v, i) => (columns[i]!.align === 'right' ? v.padStart(widths[i]!) : i === values.length - 1 ? v : v.padEnd(widths[i]!)))
    .join('  ')
    .trimEnd();
  return [line(columns.map((c) => c.title)), ...cells.map(line)].join('\n') + '\n';
}

function cell(v: string | number | boolean | undefined | null): string {
  if (v === undefined || v === null || v === '') return '-';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(3).replace(/\.?0+$/, '');
  return String(v).replace(/\s+/g, ' ');
}

/** A message body for JSON output: text when it is UTF-8, else base64 (`bodyEncoding` says which). */
export function bodyFields(body: Buffer): { body: string; bodyEncoding: 'utf8' | 'base64' } {
  return isUtf8(body) ? { body: body.toString('utf8'), bodyEncoding: 'utf8' } : { body: body.toString('base64'), bodyEncoding: 'base64' };
}

/** A body for a text line: newlines escaped so one message is one line; binary as base64. */
export function bodyLine(body: Buffer): string {
  if (!isUtf8(body)) return `base64:${body.toString('base64')}`;
  return body.toString('utf8').replace(/\\/g, '\\\\').replace(/\r/g, '\\r').replace(/\n/g, '\\n');
}

/** Shortens for a table cell. */
export function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, Math.max(0, max - 1))}…`;
}

/** 12345.6 -> "12,346" */
export function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** A rate with enough precision to read: 12,346 / 123.4 / 1.23 */
export function rate(n: number): string {
  if (!Number.isFinite(n)) return '-';
  if (n >= 1000) return count(n);
  if (n >= 100) return n.toFixed(1);
  return n.toFixed(2);
}

/** Milliseconds with three significant-ish digits: 0.412 ms, 12.3 ms, 1,234 ms. */
export function ms(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '-';
  if (n >= 1000) return `${count(n)} ms`;
  if (n >= 10) return `${n.toFixed(1)} ms`;
  return `${n.toFixed(3)} ms`;
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
