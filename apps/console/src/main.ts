#!/usr/bin/env node
// hawser-console: the web console — cluster, destinations, charts — on http://127.0.0.1:8161/.
// Reads the coordinators' Topology.Watch, the stores' Admin RPCs and every service's /metrics;
// never a client protocol. See apps/console/README.md.
import { runService } from '@hawser/config';
import { createLogger, createRegistry, onShutdown } from '@hawser/observability';
import { loadTls, useTls } from '@hawser/proto';
import { ConsoleAuth } from './auth';
import { parseStores, schema, validate } from './config';
import { ConsoleMetrics } from './metrics';
import { ConsoleModel } from './model';
import { ConsoleServer } from './server';

runService('hawser-console', schema, async (config) => {
  validate(config);
  useTls(loadTls(config.tls));
  const log = createLogger({ service: 'console', node: config.console.id });
  const registry = createRegistry('console', { node: config.console.id });
  const metrics = new ConsoleMetrics(registry);
  const auth = new ConsoleAuth({
    usersFile: config.auth.usersFile, groupsFile: config.auth.groupsFile, authorizationFile: config.authorization.file,
    sessionTtlMs: config.auth.sessionTtlMs, maxFailures: config.auth.maxFailures, failureWindowMs: config.auth.failureWindowMs,
    secureCookie: config.auth.secureCookie,
    onError: (e) => log.error({ err: e.message }, 'users, groups or authorization file not reloaded: it does not parse (the previous version stays in force)'),
  });
  auth.onLogin = (result) => metrics.logins.inc({ result });
  const model = new ConsoleModel({
    coordinators: config.coordinators, stores: parseStores(config.stores), pollMs: config.poll.intervalMs, scrapeMs: config.poll.scrapeMs,
    historySeconds: config.poll.historySeconds, timeoutMs: config.poll.timeoutMs, log,
  });
  model.onChange(() => metrics.watchConnected.set(model.view().connected ? 1 : 0));
  const server = new ConsoleServer({ host: config.http.host, port: config.http.port, model, auth, registry, metrics, log, ready: () => model.polls > 0 });
  const httpPort = await server.start();
  model.start();
  if (!/^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(config.http.host)) {
    log.warn({ host: config.http.host }, auth.required
      ? 'the console is reachable beyond loopback over plain HTTP: passwords and session cookies cross the network in the clear (put a TLS proxy in front and set auth.secureCookie)'
      : 'the console is reachable beyond loopback WITHOUT a login: anyone who reaches it may purge and move messages (set auth.usersFile)');
  }
  log.info({ httpPort, pid: process.pid, url: `http://${config.http.host}:${httpPort}/`, login: auth.required, coordinators: config.coordinators, stores: config.stores }, 'console ready');
  onShutdown(log, async () => { model.stop(); await server.stop(); });
});
