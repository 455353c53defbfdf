// The randomized simulation (./simulation.ts): thousands of seeded schedules over groups of 3
// and 5. A failure prints its seed; replay it alone with
//   REPLICATION_SEED=<seed> REPLICATION_NODES=<3|5> node tools/scripts/run-specs.mjs libs/replication/dist
// REPLICATION_RUNS=<n> changes how many schedules run per group size (default 2500 / 1200).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { simulate, SimulationResult } from './simulation';

const env = process.env;
const base = Number(env.REPLICATION_BASE_SEED ?? 1);

function campaign(nodes: number, runs: number): void {
  const t0 = performance.now();
  const totals = { events: 0, elections: 0, proposed: 0, acknowledged: 0, committed: 0, snapshots: 0, truncations: 0, crashes: 0, exempt: 0, reads: 0 };
  let slowest = 0;
  for (let i = 0; i < runs; i++) {
    const seed = base + i * 7919 + nodes;
    let r: SimulationResult;
    try {
      r = simulate(seed, { nodes });
    } catch (err) {
      assert.fail(`${(err as Error).message}\n  replay: REPLICATION_SEED=${seed} REPLICATION_NODES=${nodes}`);
    }
    totals.events += r.events;
    totals.elections += r.elections;
    for (const k of ['proposed', 'acknowledged', 'committed', 'snapshots', 'truncations', 'crashes', 'exempt', 'reads'] as const) totals[k] += r.stats[k];
    slowest = Math.max(slowest, r.settledAtMs);
  }
  const ms = Math.round(performance.now() - t0);
  console.log(`replication simulation: ${runs} schedules x ${nodes} nodes in ${ms} ms; ${JSON.stringify(totals)}; slowest settle ${slowest} virtual ms`);
  // The schedules must exercise what they claim to.
  assert.ok(totals.elections > runs, 'elections happen');
  assert.ok(totals.crashes > runs / 2, 'crashes happen');
  assert.ok(totals.snapshots > 0 && totals.truncations > 0, 'snapshots and truncations happen');
  assert.ok(totals.reads > runs / 2, 'catch-up reads released entries back from disk');
  assert.ok(totals.committed > runs * 10, 'entries commit');
}

if (env.REPLICATION_SEED) {
  test(`replay seed ${env.REPLICATION_SEED}`, () => {
    const r = simulate(Number(env.REPLICATION_SEED), { nodes: Number(env.REPLICATION_NODES ?? 3) });
    console.log(JSON.stringify(r));
  });
} else {
  const runs = env.REPLICATION_RUNS ? Number(env.REPLICATION_RUNS) : undefined;
  test('simulation: 3 replicas, crashes, loss, duplication, reordering, elections', () => campaign(3, runs ?? 2500));
  test('simulation: 5 replicas, crashes, loss, duplication, reordering, elections', () => campaign(5, runs ?? 1200));
}
