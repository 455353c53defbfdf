// Secure mode of the test cluster (ClusterOptions.secure): a private CA and one certificate
// per service, made with openssl at test time under the cluster's temp dir (never committed),
// and a ZooKeeper digest identity. Every service gets --tls.* and --zk.auth; the harness's own
// gRPC calls (Topology.Get, Admin.Status) use an admin certificate.
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { grpc, makeCerts, type Role } from '@hawser/proto';

export class SecureMaterial {
  readonly dir: string;
  /** The digest credentials every service authenticates to ZooKeeper with. */
  readonly zkAuth = `hawser:${randomBytes(9).toString('base64url')}`;
  private readonly made = new Map<string, { cert: string; key: string }>();
  private admin: grpc.ChannelCredentials | undefined;

  /** `hosts`: the subjectAltNames of every certificate (default localhost, 127.0.0.1; tools/chaos adds its namespace addresses). */
  constructor(root: string, private readonly hosts?: string[]) { this.dir = join(root, 'certs'); }

  get ca(): string { return join(this.dir, 'ca.pem'); }

  /** Certificate and key files of `<role>-<name>` (made on first use, signed by the one CA). */
  files(role: Role, name: string): { ca: string; cert: string; key: string } {
    const key = `${role}-${name}`;
    let f = this.made.get(key);
    if (!f) {
      const c = makeCerts(this.dir, [{ role, name, ...(this.hosts ? { hosts: this.hosts } : {}) }], { days: 2 }).certs[0]!;
      f = { cert: c.cert, key: c.key };
      this.made.set(key, f);
    }
    return { ca: this.ca, ...f };
  }

  /** The flags of a service with this role and name: --tls.* and --zk.auth. */
  args(role: Role, name: string, zk = true): string[] {
    const f = this.files(role, name);
    return ['--tls.ca', f.ca, '--tls.cert', f.cert, '--tls.key', f.key, ...(zk ? ['--zk.auth', this.zkAuth] : [])];
  }

  /** Channel credentials of a certificate (default: the harness's admin one). */
  credentials(role: Role = 'admin', name = 'harness'): grpc.ChannelCredentials {
    if (role === 'admin' && name === 'harness' && this.admin) return this.admin;
    const f = this.files(role, name);
    const creds = grpc.credentials.createSsl(readFileSync(f.ca), readFileSync(f.key), readFileSync(f.cert));
    if (role === 'admin' && name === 'harness') this.admin = creds;
    return creds;
  }
}
