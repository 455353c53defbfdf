// `hawser group list|remove`: the groups a cluster's ZooKeeper knows (<zk.path>/groups/<name>,
// coordination.proto's layout). A group once started stays there — its epoch and master znodes
// are persistent — and the coordinators report it as "no-quorum, 0 of N alive" for ever after
// its stores are gone. `remove` deletes its znodes; the coordinators' watches see it go and
// they stop reporting it (apps/coordinator zk-mirror).
//
// A member znode is ephemeral, held by a store's ZooKeeper session: while one exists the store
// is running (or died less than its session timeout ago). `remove` refuses then, unless --force.
import { connect, resolveAuth, ZkError, type ZkClient } from '@hawser/zk';
import { readFileSync } from 'node:fs';
import type { OptionSpec, ParsedArgs } from './args';
import { OperationError, UnreachableError, UsageError } from './errors';
import { table } from './format';
import type { Command, Io } from './io';

export const ZK_OPTIONS: OptionSpec[] = [
  { name: 'zk.address', type: 'string', default: process.env.HAWSER_ZK_ADDRESS ?? '127.0.0.1:2181', arg: 'host:port,...', help: 'ZooKeeper connect string of the cluster (the services\' zk.address); default $HAWSER_ZK_ADDRESS or 127.0.0.1:2181' },
  { name: 'zk.path', type: 'string', default: process.env.HAWSER_ZK_PATH ?? '/hawser', arg: 'path', help: 'the cluster\'s ZooKeeper root (the services\' zk.path)' },
  { name: 'zk.auth', type: 'string', default: process.env.HAWSER_ZK_AUTH, arg: 'user:password', help: 'the cluster\'s ZooKeeper digest credentials (its zk.auth), or file:<path> of a file holding them; needed to remove a group when zk.auth is set; default $HAWSER_ZK_AUTH' },
  { name: 'timeout', type: 'int', default: 10_000, min: 1, arg: 'ms', help: 'give up connecting to ZooKeeper after this long' },
];

/** One group as ZooKeeper holds it. */
export interface GroupZnodes {
  name: string;
  /** Member znodes (ephemeral: each a running store's session). */
  members: string[];
  epoch: number;
  /** The master znode's id ('' when none). */
  master: string;
}

const isCode = (e: unknown, code: string): boolean => e instanceof ZkError && e.code === code;

async function childrenOrEmpty(zk: ZkClient, path: string): Promise<string[]> {
  try { return await zk.children(path); } catch (e) { if (isCode(e, 'NO_NODE')) return []; throw e; }
}

/** Reads one group's znodes; undefined when the group does not exist. */
export async function readGroup(zk: ZkClient, root: string, name: string): Promise<GroupZnodes | undefined> {
  const base = `${root}/groups/${name}`;
  if (!(await zk.exists(base))) return undefined;
  const members = await childrenOrEmpty(zk, `${base}/members`);
  let epoch = 0;
  let master = '';
  try { epoch = Number((await zk.get(`${base}/epoch`)).data.toString('utf8').trim()) || 0; } catch (e) { if (!isCode(e, 'NO_NODE')) throw e; }
  try {
    const j = JSON.parse((await zk.get(`${base}/master`)).data.toString('utf8')) as { id?: unknown };
    master = typeof j.id === 'string' ? j.id : '';
  } catch (e) { if (!(isCode(e, 'NO_NODE') || e instanceof SyntaxError)) throw e; }
  return { name, members, epoch, master };
}

/**
 * Deletes `path` and everything below it, deepest first. A child created meanwhile (a store
 * registering) makes the delete of its parent fail with NOT_EMPTY: that is reported, not retried.
 */
async function deleteTree(zk: ZkClient, path: string, deleted: string[]): Promise<void> {
  for (const child of await childrenOrEmpty(zk, path)) await deleteTree(zk, `${path}/${child}`, deleted);
  try {
    await zk.delete(path);
    deleted.push(path);
  } catch (e) {
    if (isCode(e, 'NO_NODE')) return; // an ephemeral member went by itself meanwhile
    throw e;
  }
}

function zkRoot(args: ParsedArgs): string {
  const p = args.str('zk.path')!;
  if (!p.startsWith('/') || (p.length > 1 && p.endsWith('/'))) throw new UsageError(`--zk.path: expected an absolute ZooKeeper path like /hawser, got '${p}'`, args.command);
  return p === '/' ? '' : p;
}

function zkAuthOf(args: ParsedArgs): string {
  const value = args.str('zk.auth') ?? '';
  if (!value) return '';
  const r = resolveAuth(value, (path) => readFileSync(path, 'utf8'));
  if ('problem' in r) throw new UsageError(`--zk.auth: ${r.problem}`, args.command);
  return r.auth;
}

async function withZk<T>(args: ParsedArgs, fn: (zk: ZkClient, root: string) => Promise<T>): Promise<T> {
  const root = zkRoot(args);
  const auth = zkAuthOf(args);
  const address = args.str('zk.address')!;
  let zk: ZkClient;
  try {
    zk = await connect(address, { auth, secureRoot: root || '/', sessionTimeoutMs: 4000, connectTimeoutMs: args.int('timeout')! });
  } catch (e) {
    throw new UnreachableError(`cannot reach ZooKeeper at ${address}: ${(e as Error).message}`, { cause: e });
  }
  try {
    return await fn(zk, root);
  } catch (e) {
    if (isCode(e, 'NO_AUTH') || isCode(e, 'AUTH_FAILED')) {
      throw new OperationError(`ZooKeeper refused (${(e as ZkError).code}) on ${(e as ZkError).path ?? 'a znode'}: the cluster's znodes carry a digest ACL (zk.auth); pass --zk.auth with the cluster's user:password (or file:<path>)`, { cause: e });
    }
    throw e;
  } finally {
    await zk.close().catch(() => undefined);
  }
}

async function listGroups(zk: ZkClient, root: string): Promise<GroupZnodes[]> {
  const names = await childrenOrEmpty(zk, `${root}/groups`);
  const out: GroupZnodes[] = [];
  for (const n of names) { const g = await readGroup(zk, root, n); if (g) out.push(g); }
  return out;
}

async function runList(args: ParsedArgs, io: Io): Promise<number> {
  const groups = await withZk(args, listGroups);
  if (args.bool('json')) { io.out(JSON.stringify({ groups }) + '\n'); return 0; }
  if (!groups.length) { io.out(`no groups under ${args.str('zk.path')}/groups\n`); return 0; }
  io.out(table(groups, [
    { title: 'GROUP', value: (g) => g.name },
    { title: 'EPOCH', value: (g) => g.epoch, align: 'right' },
    { title: 'MASTER', value: (g) => g.master },
    { title: 'MEMBERS', value: (g) => (g.members.length ? g.members.join(',') : '(none alive)') },
  ]));
  return 0;
}

async function runRemove(args: ParsedArgs, io: Io): Promise<number> {
  const name = args.positionals[1];
  if (!name) throw new UsageError('group remove needs the group NAME', args.command);
  if (!/^[A-Za-z0-9._-]+$/.test(name) || name === '.' || name === '..') throw new UsageError(`'${name}' is not a group name (letters, digits, '.', '_', '-')`, args.command);
  const force = args.bool('force');
  const result = await withZk(args, async (zk, root) => {
    const g = await readGroup(zk, root, name);
    if (!g) {
      const others = (await childrenOrEmpty(zk, `${root}/groups`)).join(', ') || 'none';
      throw new OperationError(`no group '${name}' under ${root || '/'}/groups in ZooKeeper at ${args.str('zk.address')} (groups there: ${others})`);
    }
    if (g.members.length && !force) {
      throw new OperationError(`group '${name}' has ${g.members.length} live member(s): ${g.members.join(', ')} — their stores are running (or died less than a ZooKeeper session timeout ago). Stop them first, or pass --force to remove the group anyway`);
    }
    const deleted: string[] = [];
    try {
      await deleteTree(zk, `${root}/groups/${name}`, deleted);
    } catch (e) {
      if (isCode(e, 'NOT_EMPTY')) {
        const now = await childrenOrEmpty(zk, `${root}/groups/${name}/members`);
        throw new OperationError(`group '${name}' was not removed completely: a member registered while removing (${now.join(', ') || 'a new znode'}); stop its stores and run again`, { cause: e });
      }
      throw e;
    }
    return { group: g, deleted };
  });
  const forced = result.group.members.length > 0;
  if (args.bool('json')) {
    io.out(JSON.stringify({ removed: name, epoch: result.group.epoch, master: result.group.master, forcedMembers: result.group.members, znodes: result.deleted.length }) + '\n');
  } else {
    io.out(`removed group ${name} (epoch ${result.group.epoch}, ${result.deleted.length} znodes)${forced ? `; --force: deleted the member znodes of ${result.group.members.join(', ')} — a store still running keeps serving until it restarts, then registers the group again` : ''}\n`);
  }
  return 0;
}

export const group: Command = {
  spec: {
    name: 'group',
    summary: 'list the replicated groups in ZooKeeper, or remove one that no longer exists',
    positionals: [
      { name: 'list|remove', help: 'list: every group with its epoch, master and live members; remove NAME: delete the group\'s znodes', required: true },
      { name: 'NAME', help: 'the group to remove' },
    ],
    options: [
      ...ZK_OPTIONS,
      { name: 'force', type: 'bool', help: 'remove even while members are registered (their stores must be stopped: a running one re-registers the group when it restarts)' },
      { name: 'json', type: 'bool', help: 'one JSON object on stdout' },
    ],
    details: [
      'A group started once stays in ZooKeeper (its epoch and master znodes are persistent) and the coordinators',
      'report it as no-quorum for ever. `remove` deletes <zk.path>/groups/NAME; the coordinators stop reporting it',
      'at once. It refuses while a member znode exists (a store of the group is running, or died less than its',
      'ZooKeeper session timeout ago). With zk.auth on the cluster, --zk.auth must be its credentials.',
    ].join('\n'),
    examples: [
      'hawser group list --zk.address zk1:2181,zk2:2181',
      'hawser group remove g-old --zk.address zk1:2181 --zk.auth file:/etc/hawser/zk-auth',
    ],
  },
  async run(args, io) {
    const sub = args.positionals[0];
    if (sub === 'list') {
      if (args.positionals.length > 1) throw new UsageError(`group list takes no NAME (got '${args.positionals[1]}')`, args.command);
      return runList(args, io);
    }
    if (sub === 'remove') return runRemove(args, io);
    throw new UsageError(`unknown group subcommand '${sub}' (list, remove)`, args.command);
  },
};
