#!/usr/bin/env bash
# Installs what Hawser needs on a fresh Debian + Node 20 machine, and nothing that is
# already there: npm packages (npm ci), ZooKeeper (Debian's `zookeeper` package, used by
# replicated groups and their tests), python3-stomp (a STOMP client we did not write,
# used by the integration suite), mosquitto-clients (mosquitto_pub/mosquitto_sub, MQTT clients we did not
# write, used by the integration suite) and nats-server (NATS JetStream, the replicated peer the
# benchmarks measure beside Hawser; its driver has a spec) and openssl (service certificates for
# mutual TLS), promtool (Debian's prometheus package: checks the alert rules) and systemd-analyze
# (checks the systemd units) and chromium (headless, for the web console's browser tests).
# Safe to run again: each step checks first.
set -euo pipefail
cd "$(dirname "$0")/../.."

need_apt=()
[ -e /usr/share/zookeeper/zookeeper.jar ] || ls /usr/share/java/zookeeper*.jar >/dev/null 2>&1 || need_apt+=(zookeeper)
/usr/bin/python3 -c 'import stomp' >/dev/null 2>&1 || need_apt+=(python3-stomp)  # Debian's python, not a pyenv one
command -v mosquitto_pub >/dev/null 2>&1 && command -v mosquitto_sub >/dev/null 2>&1 || need_apt+=(mosquitto-clients)  # MQTT clients we did not write (mqtt*.e2e specs)
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || need_apt+=(nats-server)  # the JetStream peer of the benchmarks (tools/bench)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)  # the MQTT broker beside Hawser in tools/bench/dist/mqtt.js (its spec starts a private one; Debian's service may also take 127.0.0.1:1883)
[ -x /usr/bin/openssl ] || command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)  # hawser certs, npm start -- --secure, the mTLS specs
[ -x /usr/bin/chromium ] || need_apt+=(chromium)  # headless browser of the console's browser tests (console.e2e, driven by playwright-core; no browser download)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)  # promtool: checks and unit-tests deploy/prometheus/hawser-rules.yaml (dashboards.e2e)
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)  # systemd-analyze verify on deploy/systemd units (deploy.e2e)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to apt-get install ${need_apt[*]} (run: sudo apt-get install -y ${need_apt[*]})" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # We need these packages' programs, not their system services: zookeeper, mosquitto (1883,
  # Hawser's MQTT port), nats-server and prometheus would otherwise start as daemons on a machine
  # with systemd. Debian's policy-rc.d (exit 101: "not allowed") keeps them stopped during the
  # install; one that already exists is left alone.
  policy=/usr/sbin/policy-rc.d
  made_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && made_policy=1
  fi
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null || { [ -n "$made_policy" ] && rm -f "$policy"; exit 1; }
  [ -n "$made_policy" ] && rm -f "$policy"
fi

# npm ci when node_modules is missing or older than the lock file.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci (builds the ZooKeeper C client from source: about a minute)"
  npm ci --no-audit --no-fund --loglevel=error
fi
# The zookeeper binding with the D3 fix (docs/reliability.md): a no-op once its build has it.
node tools/scripts/patch-zookeeper.mjs
