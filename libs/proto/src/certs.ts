// Makes a private CA and service certificates for mutual TLS between Hawser's services
// (`hawser certs`, `npm start -- --secure`, the specs). It runs the `openssl` command
// (Debian's openssl package; tools/scripts/setup.sh installs it): the one X.509 tool every
// machine that runs Hawser already trusts, no new npm dependency with its own ASN.1 code,
// and what an operator would use by hand to make or inspect the same files.
//
// A certificate names its service's role in the subject's OU and its name in the CN
// (credentials.ts reads them back); its subjectAltName lists the hosts it is reached at,
// since a gRPC client checks the server's certificate against the address it dialed.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROLES, type Role } from './credentials';

/** `openssl` failed or is missing. */
export class CertsError extends Error {
  readonly code = 'CERTS_FAILED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CertsError';
  }
}

export interface CertRequest {
  role: Role;
  /** The CN: the service's name (a store's node id, a gateway's id...). */
  name: string;
  /** DNS names and IP addresses the service is reached at (default localhost, 127.0.0.1). */
  hosts?: string[];
  /** File name stem (default `<role>-<name>`). */
  file?: string;
}

export interface MadeCert { role: Role; name: string; cert: string; key: string }
export interface MadeCerts { dir: string; ca: string; caKey: string; certs: MadeCert[] }

export interface MakeCertsOptions {
  /** Days the CA and certificates are valid (default 825). */
  days?: number;
  /** The openssl binary (default: `openssl` on PATH, else /usr/bin/openssl). */
  openssl?: string;
  /** Keep an existing ca.pem/ca-key.pem in `dir` and sign with it (default true). */
  reuseCa?: boolean;
}

function opensslPath(o: MakeCertsOptions): string {
  if (o.openssl) return o.openssl;
  return existsSync('/usr/bin/openssl') ? '/usr/bin/openssl' : 'openssl';
}

function run(bin: string, args: string[], cwd: string): void {
  try {
    execFileSync(bin, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const err = e as Error & { code?: string; stderr?: Buffer };
    if (err.code === 'ENOENT') throw new CertsError(`cannot run ${bin}: install openssl (Debian: apt-get install openssl; tools/scripts/setup.sh does it)`, { cause: e });
    throw new CertsError(`openssl ${args[0]} failed: ${err.stderr?.toString().trim() || err.message}`, { cause: e });
  }
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const IP_RE = /^(\d{1,3}\.){3}\d{1,3}$|:/;

/**
 * Writes `ca.pem` (+ `ca-key.pem`, mode 600) and, for each request, `<file>.pem` and
 * `<file>-key.pem` (mode 600) into `dir`. Keys are EC P-256.
 */
export function makeCerts(dir: string, requests: CertRequest[], o: MakeCertsOptions = {}): MadeCerts {
  const bin = opensslPath(o);
  const days = String(o.days ?? 825);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca-key.pem');
  if (!(o.reuseCa !== false && existsSync(ca) && existsSync(caKey))) {
    run(bin, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', caKey], dir);
    chmodSync(caKey, 0o600);
    run(bin, ['req', '-x509', '-new', '-key', caKey, '-sha256', '-days', days, '-subj', '/O=Hawser/CN=Hawser cluster CA', '-out', ca,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  }
  const certs: MadeCert[] = [];
  for (const r of requests) {
    if (!(ROLES as readonly string[]).includes(r.role)) throw new CertsError(`unknown role '${r.role}': expected one of ${ROLES.join(', ')}`);
    if (!NAME_RE.test(r.name)) throw new CertsError(`certificate name '${r.name}' must be letters, digits, '_', '.', '-'`);
    const stem = r.file ?? `${r.role}-${r.name}`;
    const key = join(dir, `${stem}-key.pem`);
    const csr = join(dir, `${stem}.csr`);
    const cert = join(dir, `${stem}.pem`);
    const ext = join(dir, `${stem}.ext`);
    const hosts = r.hosts?.length ? r.hosts : ['localhost', '127.0.0.1'];
    const san = hosts.map((h) => (IP_RE.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
    run(bin, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key], dir);
    chmodSync(key, 0o600);
    // every service is both a server and a client of others
    writeFileSync(ext, `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=${san}\n`);
    run(bin, ['req', '-new', '-key', key, '-subj', `/O=Hawser/OU=${r.role}/CN=${r.name}`, '-out', csr], dir);
    run(bin, ['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-sha256', '-days', days, '-extfile', ext, '-out', cert], dir);
    for (const f of [csr, ext]) rmSync(f, { force: true });
    certs.push({ role: r.role, name: r.name, cert, key });
  }
  return { dir, ca, caKey, certs };
}
