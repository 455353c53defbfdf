// `hawser activemq start|stop`: a private Apache ActiveMQ Classic broker (Debian's
// `activemq` package, 5.17) for side-by-side benchmarks: KahaDB under --dir, a STOMP
// connector on a loopback port (and, with --mqtt-port, an MQTT one), log4j 1.2 logging to a file under --dir, and the
// --add-opens/--add-exports flags /usr/bin/activemq passes for Java > 8
// (see docs/benchmarks.md, "Throughput: Hawser vs ActiveMQ"). The broker runs detached; its PID is in <dir>/activemq.pid
// and `stop` ends exactly that process (after checking it still is our java).
import { spawn } from 'node:child_process';
import { connect as tcpConnect } from 'node:net';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { connect } from '@hawser/client';
import type { ParsedArgs } from './args';
import { OperationError, UsageError } from './errors';
import type { Command, Io } from './io';

export const ACTIVEMQ_HOME = '/usr/share/activemq';
/**
 * The MQTT codec ActiveMQ's MQTT connector (activemq-mqtt.jar) is built on (org.fusesource.mqtt-client).
 * Debian's activemq package does not depend on it: `apt-get install -y libmqtt-client-java`.
 */
export const MQTT_CLIENT_JAR = '/usr/share/java/mqtt-client.jar';

/** What /usr/bin/activemq adds for Java > 8 (ActiveMQ 5.17 reflects into these modules). */
export const JAVA_MODULE_FLAGS = [
  '--add-reads=java.xml=java.logging',
  '--add-opens', 'java.base/java.security=ALL-UNNAMED',
  '--add-opens', 'java.base/java.net=ALL-UNNAMED',
  '--add-opens', 'java.base/java.lang=ALL-UNNAMED',
  '--add-opens', 'java.base/java.util=ALL-UNNAMED',
  '--add-opens', 'java.naming/javax.naming.spi=ALL-UNNAMED',
  '--add-opens', 'java.rmi/sun.rmi.transport.tcp=ALL-UNNAMED',
  '--add-opens', 'java.base/java.util.concurrent=ALL-UNNAMED',
  '--add-opens', 'java.base/java.util.concurrent.atomic=ALL-UNNAMED',
  '--add-exports=java.base/sun.net.www.protocol.http=ALL-UNNAMED',
  '--add-exports=java.base/sun.net.www.protocol.https=ALL-UNNAMED',
  '--add-exports=java.base/sun.net.www.protocol.jar=ALL-UNNAMED',
  '--add-exports=jdk.xml.dom/org.w3c.dom.html=ALL-UNNAMED',
  '--add-exports=jdk.naming.rmi/com.sun.jndi.url.rmi=ALL-UNNAMED',
];

export interface ActiveMqOptions {
  dir: string;
  stompPort: number;
  /** An MQTT connector on 127.0.0.1 as well (ActiveMQ's defaults: QoS 1 and 2 publishes are persistent). */
  mqttPort?: number;
  /**
   * transport.tcpNoDelay=true on every connector (TCP_NODELAY, as Hawser's listeners set it).
   * ActiveMQ's default leaves Nagle's algorithm on (small acknowledgements may wait while
   * earlier data is unacknowledged); measured on MQTT QoS 1 with 64 in flight it made no
   * difference beyond the spread at a low load average (docs/benchmarks.md, "MQTT").
   */
  tcpNoDelay?: boolean;
  heap: string;
}

/** conf/activemq.xml: one broker, KahaDB under <dir>/data, STOMP (and MQTT) on 127.0.0.1 only. */
export function activemqXml(o: ActiveMqOptions): string {
  const dataDir = join(o.dir, 'data');
  const noDelay = o.tcpNoDelay ? 'transport.tcpNoDelay=true' : '';
  return `<beans
  xmlns="http://www.springframework.org/schema/beans"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans.xsd
  http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <!-- Written by hawser activemq start: a private broker for benchmarks. -->
  <broker xmlns="http://activemq.apache.org/schema/core" brokerName="hawser-bench" useJmx="false"
          persistent="true" dataDirectory="${dataDir}">
    <persistenceAdapter>
      <kahaDB directory="${join(dataDir, 'kahadb')}"/>
    </persistenceAdapter>
    <systemUsage>
      <systemUsage>
        <memoryUsage><memoryUsage percentOfJvmHeap="70"/></memoryUsage>
        <storeUsage><storeUsage limit="8 gb"/></storeUsage>
        <tempUsage><tempUsage limit="2 gb"/></tempUsage>
      </systemUsage>
    </systemUsage>
    <transportConnectors>
      <transportConnector name="stomp" uri="stomp://127.0.0.1:${o.stompPort}?transport.closeAsync=false${noDelay ? `&amp;${noDelay}` : ''}"/>
${o.mqttPort === undefined ? '' : `      <transportConnector name="mqtt" uri="mqtt://127.0.0.1:${o.mqttPort}${noDelay ? `?${noDelay}` : ''}"/>\n`}    </transportConnectors>
  </broker>
</beans>
`;
}

/** conf/log4j.properties (the package logs with log4j 1.2). */
export function log4jProperties(dir: string): string {
  return [
    'log4j.rootLogger=INFO, file',
    'log4j.appender.file=org.apache.log4j.FileAppender',
    `log4j.appender.file.File=${join(dir, 'activemq.log')}`,
    'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.file.layout.ConversionPattern=%d | %-5p | %m | %c | %t%n',
    '',
  ].join('\n');
}

/** The java command line (argv without `java`). */
export function javaArgs(o: ActiveMqOptions): string[] {
  const conf = join(o.dir, 'conf');
  return [
    `-Xms${o.heap}`, `-Xmx${o.heap}`,
    ...JAVA_MODULE_FLAGS,
    `-Dlog4j.configuration=file:${join(conf, 'log4j.properties')}`,
    `-Dactivemq.home=${ACTIVEMQ_HOME}`,
    `-Dactivemq.base=${o.dir}`,
    `-Dactivemq.conf=${conf}`,
    `-Dactivemq.data=${join(o.dir, 'data')}`,
    // activemq.jar's launcher puts activemq.classpath on the broker's class path.
    ...(o.mqttPort === undefined ? [] : [`-Dactivemq.classpath=${MQTT_CLIENT_JAR}`]),
    '-jar', join(ACTIVEMQ_HOME, 'bin', 'activemq.jar'),
    'start', `xbean:file:${join(conf, 'activemq.xml')}`,
  ];
}

function pidFile(dir: string): string { return join(dir, 'activemq.pid'); }

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** Our java still runs as `pid` (and the PID was not reused by something else). */
function isOurBroker(pid: number, dir: string): boolean {
  if (!alive(pid)) return false;
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes('activemq.jar') && cmd.includes(`-Dactivemq.base=${dir}`);
  } catch {
    return false;
  }
}

function readPid(dir: string): number | undefined {
  try {
    const n = Number(readFileSync(pidFile(dir), 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * An MQTT 3.1.1 CONNECT (clean session, client id `hawser-probe`) answered by a CONNACK with
 * return code 0 on 127.0.0.1:`port`; the socket is closed after a DISCONNECT either way.
 */
export function mqttAnswers(port: number, timeoutMs: number): Promise<boolean> {
  const id = Buffer.from('hawser-probe');
  // Variable header: protocol name "MQTT", level 4, flags 0x02 (clean session), keep-alive 60 s.
  const variable = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c]);
  const payload = Buffer.concat([Buffer.from([id.length >> 8, id.length & 0xff]), id]);
  const connectPacket = Buffer.concat([Buffer.from([0x10, variable.length + payload.length]), variable, payload]);
  return new Promise((res) => {
    let got = Buffer.alloc(0);
    const s = tcpConnect(port, '127.0.0.1', () => s.write(connectPacket));
    const done = (ok: boolean) => { clearTimeout(t); if (ok) s.end(Buffer.from([0xe0, 0x00])); else s.destroy(); res(ok); };
    const t = setTimeout(() => done(false), timeoutMs);
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 4) done(got[0] === 0x20 && got[1] === 0x02 && got[3] === 0x00);
    });
    s.on('error', () => { clearTimeout(t); s.destroy(); res(false); });
    s.on('close', () => { clearTimeout(t); res(false); });
  });
}

/** Starts the broker detached and waits until STOMP answers CONNECT (and MQTT, with mqttPort). Returns its PID. */
export async function startActiveMq(o: ActiveMqOptions, timeoutMs: number, java = 'java'): Promise<number> {
  if (!existsSync(join(ACTIVEMQ_HOME, 'bin', 'activemq.jar'))) {
    throw new OperationError(`${ACTIVEMQ_HOME}/bin/activemq.jar not found: apt-get install -y activemq`);
  }
  if (o.mqttPort !== undefined && !existsSync(MQTT_CLIENT_JAR)) {
    throw new OperationError(`${MQTT_CLIENT_JAR} not found (ActiveMQ's MQTT connector needs it): apt-get install -y libmqtt-client-java`);
  }
  const old = readPid(o.dir);
  if (old !== undefined && isOurBroker(old, o.dir)) throw new OperationError(`ActiveMQ already runs from ${o.dir} (pid ${old}); hawser activemq stop --dir ${o.dir}`);
  const conf = join(o.dir, 'conf');
  mkdirSync(conf, { recursive: true });
  mkdirSync(join(o.dir, 'data'), { recursive: true });
  writeFileSync(join(conf, 'activemq.xml'), activemqXml(o));
  writeFileSync(join(conf, 'log4j.properties'), log4jProperties(o.dir));
  const outPath = join(o.dir, 'activemq.out');
  const out = openSync(outPath, 'a');
  const child = spawn(java, javaArgs(o), { cwd: o.dir, detached: true, stdio: ['ignore', out, out] });
  closeSync(out);
  const spawnError = new Promise<Error>((r) => child.once('error', r));
  const pid = child.pid;
  if (pid === undefined) throw new OperationError(`could not start ${java}: ${(await spawnError).message}`);
  writeFileSync(pidFile(o.dir), `${pid}\n`);
  child.unref();
  const deadline = Date.now() + timeoutMs;
  const uri = `stomp://127.0.0.1:${o.stompPort}`;
  for (;;) {
    if (!alive(pid)) {
      rmSync(pidFile(o.dir), { force: true });
      const tail = safeTail(outPath) || safeTail(join(o.dir, 'activemq.log'));
      throw new OperationError(`ActiveMQ exited during start; see ${outPath}${tail ? `: ${tail}` : ''}`);
    }
    let stompUp = false;
    try {
      const c = await connect(uri, { connectTimeoutMs: 2000 });
      await c.disconnect({ timeoutMs: 2000 });
      stompUp = true;
      if (o.mqttPort === undefined || await mqttAnswers(o.mqttPort, 2000)) return pid;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) {
      stopPid(pid);
      const what = stompUp ? `MQTT (CONNECT/CONNACK) on 127.0.0.1:${o.mqttPort}` : `STOMP on ${uri}`;
      throw new OperationError(`ActiveMQ did not accept ${what} within ${timeoutMs} ms (pid ${pid} stopped); see ${join(o.dir, 'activemq.log')}`);
    }
    await sleep(250);
  }
}

function safeTail(path: string): string {
  try {
    const lines = readFileSync(path, 'utf8').trim().split('\n').filter((l) => /error|exception/i.test(l));
    return (lines[lines.length - 1] ?? '').trim().slice(0, 300);
  } catch {
    return '';
  }
}

function stopPid(pid: number): void {
  try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
}

/** SIGTERM (ActiveMQ shuts down cleanly), then SIGKILL after `timeoutMs`. */
export async function stopActiveMq(dir: string, timeoutMs: number): Promise<number | undefined> {
  const pid = readPid(dir);
  if (pid === undefined || !isOurBroker(pid, dir)) {
    rmSync(pidFile(dir), { force: true });
    return undefined;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (alive(pid) && Date.now() < deadline) await sleep(100);
  if (alive(pid)) {
    process.kill(pid, 'SIGKILL');
    while (alive(pid)) await sleep(50);
  }
  rmSync(pidFile(dir), { force: true });
  return pid;
}

function options(args: ParsedArgs): ActiveMqOptions {
  const dir = args.str('dir');
  if (dir === undefined) throw new UsageError('--dir is required (the broker\'s config, KahaDB and logs go there)', 'activemq');
  const stompPort = args.int('stomp-port')!;
  if (stompPort < 1 || stompPort > 65535) throw new UsageError(`--stomp-port: expected 1-65535, got ${stompPort}`, 'activemq');
  const mqttPort = args.int('mqtt-port');
  if (mqttPort !== undefined && (mqttPort < 1 || mqttPort > 65535 || mqttPort === stompPort)) {
    throw new UsageError(`--mqtt-port: expected 1-65535 other than --stomp-port, got ${mqttPort}`, 'activemq');
  }
  return { dir: resolve(dir), stompPort, ...(mqttPort === undefined ? {} : { mqttPort }), ...(args.bool('tcp-no-delay') ? { tcpNoDelay: true } : {}), heap: args.str('heap')! };
}

export const activemq: Command = {
  spec: {
    name: 'activemq',
    summary: 'Start or stop a private Apache ActiveMQ Classic (Debian package) with KahaDB and STOMP (and MQTT), for benchmarks.',
    positionals: [{ name: 'action', required: true, help: 'start | stop' }],
    options: [
      { name: 'dir', type: 'string', arg: 'D', help: 'directory for conf/, data/ (KahaDB), activemq.log and activemq.pid (required)' },
      { name: 'stomp-port', type: 'int', default: 61700, min: 1, arg: 'P', help: 'STOMP connector port on 127.0.0.1' },
      { name: 'mqtt-port', type: 'int', min: 1, arg: 'P', help: 'also an MQTT connector on 127.0.0.1:P (needs apt-get install -y libmqtt-client-java)' },
      { name: 'tcp-no-delay', type: 'bool', default: false, help: 'TCP_NODELAY on every connector (transport.tcpNoDelay=true; ActiveMQ\'s default keeps Nagle\'s algorithm on)' },
      { name: 'heap', type: 'string', default: '1g', arg: 'size', help: 'JVM heap (-Xms and -Xmx)' },
      { name: 'timeout', type: 'int', default: 90000, min: 1, arg: 'ms', help: 'how long to wait for start (STOMP answers) or stop' },
    ],
    details: 'start prints the PID and the STOMP URI once ActiveMQ answers CONNECT (and, with --mqtt-port, an MQTT\n'
      + 'CONNECT with a CONNACK); stop sends SIGTERM to the\n'
      + 'PID in <dir>/activemq.pid (SIGKILL after --timeout). Needs `apt-get install -y activemq`.\n'
      + 'ActiveMQ runs about 2x slower in its first minute (JIT): warm it up before measuring.',
    examples: [
      'hawser activemq start --dir /tmp/amq --stomp-port 61700',
      'hawser activemq start --dir /tmp/amq2 --stomp-port 61710 --mqtt-port 1884',
      'hawser bench --uri stomp://127.0.0.1:61700 --persistent --window 64 --count 20000',
      'hawser activemq stop --dir /tmp/amq',
    ],
  },
  async run(args, io: Io) {
    const [action] = args.positionals as [string];
    const o = options(args);
    const timeout = args.int('timeout')!;
    if (action === 'start') {
      const pid = await startActiveMq(o, timeout);
      io.out(`activemq started: pid ${pid}, stomp://127.0.0.1:${o.stompPort}${o.mqttPort === undefined ? '' : `, mqtt://127.0.0.1:${o.mqttPort}`} (dir ${o.dir})\n`);
      return 0;
    }
    if (action === 'stop') {
      const pid = await stopActiveMq(o.dir, timeout);
      io.out(pid === undefined ? `activemq was not running from ${o.dir}\n` : `activemq stopped (pid ${pid})\n`);
      return 0;
    }
    throw new UsageError(`unknown action '${action}' (start or stop)`, 'activemq');
  },
};
