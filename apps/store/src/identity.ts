// Data-directory identity: whose RocksDB this is. Written at the first start (RocksDB key
// `meta\0identity`, node-local: never shipped in a snapshot, kept by an install) and checked
// at every start, so a directory written for another group or another HA mode is refused
// before anything reads or writes it.
//
// Why: the local cluster's standalone run and its replicated group once shared a directory.
// The standalone run appended entries the group never committed and raised the directory's
// applied (= committed) position; back in the group, that node could neither follow the new
// master ("overwrites committed position") nor be trusted in an election (its log was the
// longest). A directory now knows whose it is.
import type { Rocks } from './rocks';

export type HaMode = 'standalone' | 'replicated' | 'shared-lock';

/** The record: which store wrote this directory. */
export interface DataDirIdentity {
  /** Record format (1). */
  v: number;
  mode: HaMode;
  group: string;
  node: string;
  /** When the record was written (ISO time; informational). */
  created: string;
  /** true: written for a directory that held data before records existed (an upgrade). */
  adopted?: boolean;
}

export const IDENTITY_KEY = 'meta\u0000identity';
/** Present only in directories a replicated store has opened (its incarnation counter). */
const INCARNATION_KEY = 'meta\u0000incarnation';

/** A store was started on a data directory that belongs to another group, node or mode. */
export class IdentityError extends Error {
  readonly code = 'STORE_IDENTITY';
  constructor(message: string, readonly dir: string) {
    super(message);
    this.name = 'IdentityError';
  }
}

export interface IdentityWant {
  dir: string;
  mode: HaMode;
  group: string;
  node: string;
}

const describe = (i: Pick<DataDirIdentity, 'mode' | 'group' | 'node'>) => `${i.mode} store ${i.node} of group ${i.group}`;

function refuse(want: IdentityWant, why: string): IdentityError {
  return new IdentityError(
    `data directory ${want.dir} ${why}; refusing to start as ${describe(want)}. ` +
    'Point node.dataDir at another directory, or, if that data is no longer wanted, delete the directory ' +
    '(a replicated member then re-syncs from its master)',
    want.dir,
  );
}

/**
 * Compares the directory's record with this store's config. Replicated: mode, group and node
 * must match (another member's directory would make two members with one log). Standalone and
 * shared-lock: mode and group (shared-lock nodes share one directory; a standalone directory
 * may move to another host).
 */
export function mismatch(have: DataDirIdentity, want: IdentityWant): IdentityError | null {
  if (have.mode !== want.mode) {
    const hint = have.mode === 'standalone' || want.mode === 'standalone'
      ? ' (a standalone store and a replicated group must never share a directory: entries one writes are not the other\'s)'
      : '';
    return refuse(want, `was written by a ${describe(have)}${hint}`);
  }
  if (have.group !== want.group) return refuse(want, `belongs to group ${have.group} (written by ${describe(have)})`);
  if (want.mode === 'replicated' && have.node !== want.node) return refuse(want, `belongs to node ${have.node} of group ${have.group} (each member needs its own directory)`);
  return null;
}

/**
 * Checks (or, on a new or pre-identity directory, writes) the identity record. A directory
 * with data but no record is adopted, unless its data shows another mode: only a replicated
 * store writes `meta\0incarnation`, so such a directory is not a standalone or shared-lock
 * one, and a directory with data and no incarnation was never a replicated member's.
 */
export async function checkIdentity(db: Rocks, want: IdentityWant): Promise<{ identity: DataDirIdentity; written: 'new' | 'adopted' | null }> {
  const raw = await db.get(IDENTITY_KEY);
  if (raw) {
    let have: DataDirIdentity;
    try {
      have = JSON.parse(raw.toString()) as DataDirIdentity;
    } catch {
      throw refuse(want, `has an unreadable identity record (${JSON.stringify(raw.toString().slice(0, 80))})`);
    }
    const bad = mismatch(have, want);
    if (bad) throw bad;
    return { identity: have, written: null };
  }
  let hasData = false;
  await db.range({ limit: 1, values: false }, () => { hasData = true; return false; });
  if (hasData) {
    const replicated = (await db.get(INCARNATION_KEY)) !== undefined;
    if (replicated && want.mode !== 'replicated') {
      throw refuse(want, 'holds a replicated member\'s journal (written before identity records; its node and group are unknown)');
    }
    if (!replicated && want.mode === 'replicated') {
      throw refuse(want, 'holds a standalone or shared-lock store\'s data (written before identity records), never a replicated member\'s');
    }
  }
  const identity: DataDirIdentity = {
    v: 1, mode: want.mode, group: want.group, node: want.node, created: new Date().toISOString(), ...(hasData ? { adopted: true } : {}),
  };
  await db.batch([{ type: 'put', key: IDENTITY_KEY, value: JSON.stringify(identity) }], true);
  return { identity, written: hasData ? 'adopted' : 'new' };
}
