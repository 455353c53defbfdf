#!/usr/bin/env node
// Patches the `zookeeper` npm package's native binding (src/node-zk.cpp, 7.3.0) and rebuilds
// it, once: run by `npm install`/`npm ci` (root postinstall) and by tools/scripts/setup.sh.
// Safe to run again: it checks the built addon first.
//
// Why (docs/reliability.md D3): when zookeeper_interest() fails after the C client closed its
// socket — "connection timed out" after 2/3 of the session timeout without an answer (an event
// loop held up by load), or an expired session — the binding returned early and kept its
// uv_poll handle on that closed fd. It closed the handle at a later yield (or at close), when
// the fd number could belong to a socket this process had accepted or opened meanwhile, and
// libuv's uv_poll close does EPOLL_CTL_DEL on the number: that socket silently left epoll.
// The next change of its interest (a write that fills its buffer, a shutdown: what ending
// sessions at a journal failure or at SIGTERM does) made epoll_ctl(MOD) fail with ENOENT and
// libuv abort(): SIGABRT, no log line. The patch lets go of the poll handle at once whenever
// zookeeper_interest() fails (the fd number cannot have been reused yet: nothing ran in
// between), and in close() before zookeeper_close() closes the socket.
// Upstream: yfinkelstein/node-zookeeper issues 238 and 262 (open).
// Also: a failed get_acl (no ACL vector) is no longer freed as one (SIGSEGV on a connection
// loss with getAcl calls pending). libs/zk/src/binding.spec.ts crashes on the unpatched binding.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PKG = join(ROOT, 'node_modules/zookeeper');
const SRC = join(PKG, 'src/node-zk.cpp');
const ADDON = join(PKG, 'build/Release/zookeeper.node');
/** Strings the patched code logs: present in the built addon once every edit is compiled in. */
const MARK = 'hawser-d3: poll handle released';
const MARK_ACL = 'hawser: failed get_acl, no ACL vector to free';
const MARKS = [MARK, MARK_ACL];

const say = (msg) => process.stdout.write(`patch-zookeeper: ${msg}\n`);

/** [upstream text, patched text], applied in order; each upstream text must occur exactly once. */
const EDITS = [
  [
    `        if (rc) {
            LOG_ERROR("yield:zookeeper_interest returned error: %d - %s\\n", rc, zerror(rc));
            return;
        }`,
    `        if (rc) {
            LOG_ERROR("yield:zookeeper_interest returned error: %d - %s\\n", rc, zerror(rc));
            // The C client may have closed its socket in zookeeper_interest() (a connection
            // timeout, an unrecoverable state). Let go of the poll handle now, while that fd
            // number cannot belong to anything else: closed at a later yield, libuv's
            // EPOLL_CTL_DEL would hit whatever socket took the number meanwhile (Hawser D3).
            if (zk_io) {
                uv_close((uv_handle_t*) zk_io, delete_on_close);
                zk_io = NULL;
                LOG_DEBUG("${MARK}");
            }
            fd = -1;
            return;
        }`,
  ],
  [
    `        if (zhandle) {
            LOG_DEBUG("call zookeeper_close(%lp)", zhandle);
            zookeeper_close(zhandle);
            zhandle = 0;

            LOG_DEBUG("zookeeper_close() returned");

            if (zk_io) {
                int rc = uv_poll_stop(zk_io);
                LOG_DEBUG("zookeeper_close(%lp) uv_poll_stop result: %d", this, rc);

                uv_close((uv_handle_t*) zk_io, delete_on_close);
                zk_io = NULL;
            }
`,
    `        if (zhandle) {
            // The poll handle goes while its fd is still the C client's socket: after
            // zookeeper_close() the number may be another socket's (Hawser D3).
            if (zk_io) {
                int rc = uv_poll_stop(zk_io);
                LOG_DEBUG("zookeeper_close(%lp) uv_poll_stop result: %d", this, rc);

                uv_close((uv_handle_t*) zk_io, delete_on_close);
                zk_io = NULL;
            }
            fd = -1;

            LOG_DEBUG("call zookeeper_close(%lp)", zhandle);
            zookeeper_close(zhandle);
            zhandle = 0;

            LOG_DEBUG("zookeeper_close() returned");
`,
  ],
  // A get_acl that fails (e.g. pending when the connection drops: the C client completes it
  // with ZCONNECTIONLOSS and no ACL vector) freed a NULL vector: SIGSEGV (seen in the chaos
  // runs that verified D3, with zk.auth's ACL checks).
  [
    `        argv[3] = stat != NULL ? zkk->createStatObject(stat) : Nan::Null().As<Object>();

        deallocate_ACL_vector(acl);
`,
    `        argv[3] = stat != NULL ? zkk->createStatObject(stat) : Nan::Null().As<Object>();

        if (acl != NULL) {
            deallocate_ACL_vector(acl);
        } else {
            LOG_DEBUG("${MARK_ACL}");
        }
`,
  ],
];

function patchedSource(text) {
  let out = text;
  for (const [from, to] of EDITS) {
    if (out.includes(to)) continue; // applied by an earlier run
    const n = out.split(from).length - 1;
    if (n !== 1) {
      throw new Error(`${SRC}: expected the upstream code once, found it ${n} times (zookeeper ${version()}; this patch is for 7.3.0). ` +
        'Check whether the new version fixes the stale poll handle (docs/reliability.md D3) and update or drop tools/scripts/patch-zookeeper.mjs');
    }
    out = out.replace(from, to);
  }
  return out;
}

function version() {
  try { return JSON.parse(readFileSync(join(PKG, 'package.json'), 'utf8')).version; } catch { return '?'; }
}

function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
  ];
  try { candidates.push(createRequire(join(ROOT, 'package.json')).resolve('node-gyp/bin/node-gyp.js')); } catch { /* not a dependency */ }
  const found = candidates.find((p) => p && existsSync(p));
  if (!found) throw new Error('node-gyp not found (it comes with npm): cannot rebuild the zookeeper binding');
  return found;
}

/** Node's headers on this machine (Debian's nodejs has them under /usr/include/node): no download. */
function nodeDir() {
  const prefix = resolve(dirname(process.execPath), '..');
  if (existsSync(join(prefix, 'include/node/node_api.h'))) return prefix;
  const m = /"nodedir": "([^"]+)"/.exec(existsSync(join(PKG, 'build/config.gypi')) ? readFileSync(join(PKG, 'build/config.gypi'), 'utf8') : '');
  return m?.[1];
}

function main() {
  if (!existsSync(SRC)) { say('node_modules/zookeeper not installed: nothing to patch'); return; }
  if (existsSync(ADDON) && MARKS.every((m) => readFileSync(ADDON).includes(m))) { say('binding already patched'); return; }
  const source = patchedSource(readFileSync(SRC, 'utf8'));
  // Built in a copy, then renamed into place: a process that has the old addon loaded keeps
  // its mapping, one starting meanwhile loads the old or the new file, never half of one.
  const work = mkdtempSync(join(PKG, '.hawser-build-'));
  try {
    for (const f of ['binding.gyp', 'package.json', 'scripts', 'src']) cpSync(join(PKG, f), join(work, f), { recursive: true });
    writeFileSync(join(work, 'src/node-zk.cpp'), source);
    // The C client's sources (deps/zookeeper-client-c), timestamps kept so automake is not
    // needed: the package's own build step configures and makes it again in the copy.
    cpSync(join(PKG, 'deps'), join(work, 'deps'), { recursive: true, preserveTimestamps: true, filter: (s) => !s.endsWith('.tar.gz') });
    say(`rebuilding the zookeeper ${version()} binding with the D3 fix (stale poll handle)`);
    const dir = nodeDir();
    execFileSync(process.execPath, [nodeGyp(), 'rebuild', '--release', '--loglevel=error', ...(dir ? [`--nodedir=${dir}`] : [])], { cwd: work, stdio: ['ignore', 'ignore', 'inherit'] });
    const built = join(work, 'build/Release/zookeeper.node');
    if (!MARKS.every((m) => readFileSync(built).includes(m))) throw new Error('the rebuilt binding does not contain the patch');
    writeFileSync(SRC, source);
    // build/zookeeper.node is the package's copy of the same file (its after_build step).
    const copy = join(PKG, 'build/.zookeeper.node.new');
    cpSync(built, copy);
    renameSync(copy, join(PKG, 'build/zookeeper.node'));
    renameSync(built, ADDON);
    say('binding patched');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

try {
  main();
} catch (e) {
  process.stderr.write(`patch-zookeeper: ${e.message}\n`);
  process.exit(1);
}
