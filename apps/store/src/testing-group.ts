// Test support: a replicated group of stores in-process, over real gRPC and RocksDB, without
// ZooKeeper: the test plays the coordinator (Member.Prepare / Assign). Used by the specs only.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@hawser/config';
import { createLogger, createRegistry, type prom } from '@hawser/observability';
import { adminService, memberService, type AssignReply, type PrepareReply, type StatusReply } from '@hawser/proto';
import { schema, validate } from './config';
import { Store } from './store';
import { checkFor, TestSession, unary } from './testing';

export interface TestNode {
  id: string;
  dir: string;
  store: Store | null;
  /** Arguments every boot of this node adds (after the group's). */
  extra: string[];
  /** The last boot's metrics registry. */
  registry?: prom.Registry;
}

const LOG_LEVEL = process.env.HAWSER_TEST_LOG ?? 'silent';

/** Nodes s1..s3 (or `ids`) of group g1, each with its own temp data directory, not started. */
export function testNodes(extra: string[] = [], ids = ['s1', 's2', 's3']): TestNode[] {
  return ids.map((id) => ({ id, dir: mkdtempSync(join(tmpdir(), `hawser-repl-${id}-`)), store: null, extra }));
}

/** Starts the node's store (replicated, 3 replicas, fast master timeouts); `extra` after the node's own. */
export async function bootNode(n: TestNode, extra: string[] = []): Promise<Store> {
  const argv = ['--ha.mode', 'replicated', '--node.id', n.id, '--group', 'g1', '--node.dataDir', n.dir, '--grpc.port', '0',
    '--replicas', '3', '--zk.address', '', '--replication.masterTimeoutMs', '500', '--replication.heartbeatMs', '50', ...n.extra, ...extra];
  const config = validate(loadConfig(schema, { argv, env: {} }).config);
  n.registry = createRegistry('store');
  const store = new Store({ config, log: createLogger({ service: 'store', node: n.id, level: LOG_LEVEL }), registry: n.registry });
  await store.start();
  n.store = store;
  return store;
}

export const nodeAddr = (n: TestNode): string => `127.0.0.1:${n.store!.grpcPort}`;

export function prepare(n: TestNode, epoch: number): Promise<PrepareReply> {
  return unary(memberService(), nodeAddr(n), 'Prepare', { group: 'g1', epoch, coordinator: 'test' });
}

export function assign(n: TestNode, epoch: number, role: 'master' | 'slave', master: TestNode, all: TestNode[], masterAddress = nodeAddr(master)): Promise<AssignReply> {
  return unary(memberService(), nodeAddr(n), 'Assign', {
    group: 'g1', epoch, role, masterId: master.id, masterAddress,
    // Every member of the group, down ones too (no address): the master must expect them.
    members: all.map((m) => ({ id: m.id, address: m.store ? nodeAddr(m) : '' })),
  });
}

/**
 * The election, as the coordinator runs it, with the winner given (every live node promises);
 * `masterAddress`: where the slaves are told to dial the master (default its own port).
 */
export async function elect(epoch: number, master: TestNode, all: TestNode[], masterAddress?: string): Promise<void> {
  const live = all.filter((m) => m.store);
  for (const m of live) assert.equal((await prepare(m, epoch)).promised, true, `${m.id} promises ${epoch}`);
  assert.equal((await assign(master, epoch, 'master', master, all)).accepted, true, `${master.id} accepts master`);
  for (const m of live) if (m !== master) assert.equal((await assign(m, epoch, 'slave', master, all, masterAddress)).accepted, true, `${m.id} accepts slave`);
}

/** elect(), then waits until the master serves in that epoch. */
export async function electServing(epoch: number, master: TestNode, all: TestNode[], masterAddress?: string): Promise<void> {
  await elect(epoch, master, all, masterAddress);
  await checkFor(`${master.id} serving epoch ${epoch}`, () => master.store!.serving && master.store!.repl!.epoch === epoch);
}

/** Boots every node, elects the first one master of epoch 1 and waits until it serves. */
export async function bootServing(all: TestNode[]): Promise<void> {
  for (const n of all) await bootNode(n);
  await electServing(1, all[0]!, all);
}

export async function stopNode(n: TestNode): Promise<void> {
  await n.store?.stop();
  n.store = null;
}

/** Stops every node and removes its data directory. */
export async function cleanupNodes(all: TestNode[]): Promise<void> {
  for (const n of all) await stopNode(n);
  for (const n of all) rmSync(n.dir, { recursive: true, force: true });
}

export function nodeStatus(n: TestNode): Promise<StatusReply> {
  return unary(adminService(), nodeAddr(n), 'Status', {});
}

/** One receipted persistent SEND to `destination` on the node's store (a session of its own). */
export async function sendReceipted(n: TestNode, destination: string, body: string): Promise<void> {
  const p = new TestSession(nodeAddr(n));
  try {
    await p.open();
    await p.receipted([p.send(destination, body, { id: `ID:${body}` })]);
  } finally {
    p.close();
  }
}

/** Counts the nodes' masterLost reports from now on (instead of sending them to a coordinator). */
export function countMasterLost(nodes: TestNode[]): { n: number } {
  const c = { n: 0 };
  for (const s of nodes) s.store!.repl!['o'].reportMasterLost = () => { c.n++; };
  return c;
}

/** (epoch, position) of every entry in the node's replication log. */
export function logOf(n: TestNode): Array<[number, number]> {
  return n.store!.repl!.replica.positions();
}
