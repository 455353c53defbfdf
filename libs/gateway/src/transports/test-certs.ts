// Test support: a throw-away PKI made with the openssl command at test time (a CA, server
// and client certificates, EC P-256, valid two days) in a directory the caller removes.
// Never commit what it writes. Not used by the service; the real tool for deployments is
// `hawser certs`. Used by the gateway's TLS specs and the integration suite (tests/integration/src/certs.ts).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A certificate and its private key, as PEM files. */
export interface CertFiles { cert: string; key: string }

export class OpensslMissingError extends Error {
  constructor(cause: unknown) {
    super('the openssl command is needed to make test certificates and did not run: install it (apt-get install -y openssl, or run tools/scripts/setup.sh as root)', { cause });
    this.name = 'OpensslMissingError';
  }
}

function openssl(args: string[], cwd: string): void {
  const bin = existsSync('/usr/bin/openssl') ? '/usr/bin/openssl' : 'openssl';
  try {
    execFileSync(bin, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
    if (err.code === 'ENOENT') throw new OpensslMissingError(e);
    throw new Error(`openssl ${args.join(' ')} failed: ${err.stderr?.toString().trim() ?? err.message}`, { cause: e });
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A self-signed CA named `name` (files `<name>.pem`, `<name>.key` in dir). */
export function makeCa(dir: string, name = 'test-ca'): CertFiles {
  const files = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  openssl(['req', '-x509', ...EC, '-keyout', files.key, '-out', files.cert, '-days', '2', '-subj', `/O=Hawser test/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  return files;
}

export interface LeafOptions {
  /** 'server' (serverAuth, SANs 127.0.0.1, ::1 and localhost by default) or 'client' (clientAuth). */
  usage: 'server' | 'client';
  /** Extra subject fields before CN, e.g. '/O=acme/OU=ops'. */
  subject?: string;
  /** subjectAltName entries, e.g. ['DNS:gw.example', 'IP:127.0.0.1']. */
  san?: string[];
  /** Write under this base name instead of the CN. */
  file?: string;
}

/** A certificate for CN `cn` signed by `ca` (files `<file>.pem`, `<file>.key` in dir). */
export function makeCert(dir: string, ca: CertFiles, cn: string, opts: LeafOptions): CertFiles {
  const base = opts.file ?? cn.replace(/[^A-Za-z0-9_.-]/g, '_');
  const files = { cert: join(dir, `${base}.pem`), key: join(dir, `${base}.key`) };
  const csr = join(dir, `${base}.csr`);
  const ext = join(dir, `${base}.ext`);
  const san = opts.san ?? (opts.usage === 'server' ? ['IP:127.0.0.1', 'IP:::1', 'DNS:localhost'] : []);
  writeFileSync(ext, [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${opts.usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
    ...(san.length ? [`subjectAltName=${san.join(',')}`] : []),
  ].join('\n') + '\n');
  openssl(['req', ...EC, '-keyout', files.key, '-out', csr, '-subj', `${opts.subject ?? '/O=Hawser test'}/CN=${cn}`], dir);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', `0x${randomBytes(8).toString('hex')}`,
    '-days', '2', '-sha256', '-extfile', ext, '-out', files.cert], dir);
  return files;
}

/** What most TLS tests need: a CA, a server certificate for 127.0.0.1/localhost, and a client certificate for `alice`. */
export interface TestPki {
  dir: string;
  ca: CertFiles;
  server: CertFiles;
  alice: CertFiles;
}

export function makeTestPki(dir: string): TestPki {
  const ca = makeCa(dir, 'test-ca');
  return {
    dir,
    ca,
    server: makeCert(dir, ca, 'gateway', { usage: 'server' }),
    alice: makeCert(dir, ca, 'alice', { usage: 'client', subject: '/O=Hawser test/OU=ops' }),
  };
}
