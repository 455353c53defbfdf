// Prometheus metrics of the coordinator (README: Metrics).
import { prom } from '@hawser/observability';

export const GROUP_STATES = ['ok', 'electing', 'no-quorum'] as const;

export function createMetrics(registry: prom.Registry) {
  const registers = [registry];
  return {
    up: new prom.Gauge({ name: 'hawser_coordinator_up', help: '1 while this coordinator runs', registers }),
    leader: new prom.Gauge({ name: 'hawser_coordinator_leader', help: '1 while this coordinator is the leader (runs elections)', registers }),
    zkConnected: new prom.Gauge({ name: 'hawser_coordinator_zk_connected', help: '1 while connected to ZooKeeper', registers }),
    elections: new prom.Counter({ name: 'hawser_coordinator_elections_total', help: 'elections run by this coordinator, by result (ok, no-quorum, refused, aborted, error)', labelNames: ['group', 'result'], registers }),
    electionSeconds: new prom.Histogram({
      name: 'hawser_coordinator_election_seconds', help: 'time from the start of an election to the master znode written',
      labelNames: ['group'], buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10], registers,
    }),
    failovers: new prom.Counter({ name: 'hawser_coordinator_failovers_total', help: 'elections that replaced a lost master', labelNames: ['group'], registers }),
    groupState: new prom.Gauge({ name: 'hawser_coordinator_group_state', help: '1 for the current state of each group (ok, electing, no-quorum)', labelNames: ['group', 'state'], registers }),
    epoch: new prom.Gauge({ name: 'hawser_coordinator_epoch', help: 'current epoch of each group', labelNames: ['group'], registers }),
    quorumOverlapRisk: new prom.Gauge({ name: 'hawser_coordinator_group_quorum_overlap_risk', help: '1 while more members of the group are registered than their --replicas keep safe: an election quorum need not share a member with what its master committed on (docs/reliability.md D18)', labelNames: ['group'], registers }),
    watchers: new prom.Gauge({ name: 'hawser_coordinator_topology_watchers', help: 'open Topology.Watch streams', registers }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
