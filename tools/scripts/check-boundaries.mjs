#!/usr/bin/env node
// Keeps the pure cores pure (docs/architecture.md, "How the code is written"): the codec, selector and broker-core
// libraries may not import sockets, timers' owners, gRPC, RocksDB, ZooKeeper, the file
// system or the HTTP stack, nor any app. Fails with the file and the import.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const PURE = ['libs/stomp/src', 'libs/selector/src', 'libs/broker/src', 'libs/replication/src', 'libs/network/src'];
const FORBIDDEN = [
  /^node:(net|tls|http|https|http2|dgram|fs|child_process|worker_threads|cluster)$/,
  /^(net|tls|http|https|http2|dgram|fs|child_process)$/,
  /^@grpc\//, /^rocksdb$/, /^zookeeper$/, /^ws$/, /^pino$/, /^prom-client$/,
  /^@hawser\/(store|gateway|coordinator|bridge|proto|observability)$/,
];
const TIMERS = /\b(setTimeout|setInterval|setImmediate|Date\.now|new Date\(\))/;

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.spec.ts')) out.push(p);
  }
  return out;
}

let bad = 0;
for (const dir of PURE) {
  let files = [];
  try { files = walk(dir); } catch { continue; }
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from\s+|require\(|import\()\s*['"]([^'"]+)['"]/g)) {
      if (FORBIDDEN.some((re) => re.test(m[1]))) { console.error(`${file}: pure library imports '${m[1]}'`); bad++; }
    }
    const lines = text.split('\n');
    lines.forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, '');
      if (TIMERS.test(code)) { console.error(`${file}:${i + 1}: pure library reads the clock or sets a timer: ${line.trim()}`); bad++; }
    });
  }
}
if (bad) { console.error(`check-boundaries: ${bad} violation(s)`); process.exit(1); }
console.log('check-boundaries: pure libraries import no I/O');
