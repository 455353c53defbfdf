// Reads the Prometheus text exposition format (what every service's /metrics serves) into
// samples. Pure: text in, samples out. Only what the console charts needs: names, labels,
// values; comments, types and timestamps are skipped.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?\s*$/;

/** Label values: "a=\"x\",b=\"y\\\"z\"" -> { a: 'x', b: 'y"z' } */
function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    if (eq < 0) break;
    const key = text.slice(i, eq).trim().replace(/^,/, '').trim();
    if (text[eq + 1] !== '"') break;
    let j = eq + 2;
    let value = '';
    while (j < text.length && text[j] !== '"') {
      if (text[j] === '\\' && j + 1 < text.length) {
        const n = text[j + 1];
        value += n === 'n' ? '\n' : n;
        j += 2;
      } else value += text[j++];
    }
    out[key] = value;
    i = j + 1;
    if (text[i] === ',') i++;
  }
  return out;
}

export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const value = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4]);
    if (Number.isNaN(value) && m[4] !== 'NaN') continue;
    out.push({ name: m[1]!, labels: m[3] ? parseLabels(m[3]) : {}, value });
  }
  return out;
}

/** Sum of the samples named `name` whose labels include `match`. */
export function sum(samples: readonly Sample[], name: string, match: Record<string, string> = {}): number {
  let total = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
}

/** Whether any sample named `name` exists. */
export function has(samples: readonly Sample[], name: string): boolean {
  return samples.some((s) => s.name === name);
}

/** Sums of `name` grouped by the value of label `by`. */
export function sumBy(samples: readonly Sample[], name: string, by: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) if (s.name === name) out[s.labels[by] ?? ''] = (out[s.labels[by] ?? ''] ?? 0) + s.value;
  return out;
}
