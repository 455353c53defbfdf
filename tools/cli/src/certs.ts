// `hawser certs`: a private CA and one certificate per service of a cluster, for mutual TLS
// between the services (docs/security.md). Each certificate names its role (subject OU) and
// its name (CN: a store's node.id, a coordinator's, gateway's or bridge's id); the admin
// certificate is the CLI's (--tls.*). Made with openssl (@hawser/proto makeCerts).
import { makeCerts, CertsError, type CertRequest, type Role } from '@hawser/proto';
import { OperationError, UsageError } from './errors';
import type { OptionSpec } from './args';
import type { Command } from './io';

const ROLE_OPTIONS: Array<{ role: Role; option: string; help: string }> = [
  { role: 'store', option: 'stores', help: 'store node ids (node.id), e.g. s1,s2,s3' },
  { role: 'coordinator', option: 'coordinators', help: 'coordinator ids (coordinator.id)' },
  { role: 'gateway', option: 'gateways', help: 'gateway ids (gateway.id)' },
  { role: 'bridge', option: 'bridges', help: 'bridge ids (bridge.id)' },
  { role: 'admin', option: 'admins', help: 'admin (CLI, console) certificate names' },
];

const names = (v: string | undefined) => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);

export const certs: Command = {
  spec: {
    name: 'certs',
    summary: 'Make a private CA and per-service certificates (roles in them) for mutual TLS between the services.',
    positionals: [{ name: 'dir', required: true, help: 'directory to write ca.pem, <role>-<name>.pem and <role>-<name>-key.pem into (keys mode 600)' }],
    options: [
      ...ROLE_OPTIONS.map((r): OptionSpec => ({ name: r.option, type: 'string', arg: 'a,b,...', help: r.help })),
      { name: 'hosts', type: 'string', arg: 'h,...', default: 'localhost,127.0.0.1', help: 'DNS names / IPs every certificate is valid for (the addresses services dial each other at)' },
      { name: 'days', type: 'int', default: 825, min: 1, arg: 'N', help: 'validity of the CA and the certificates' },
      { name: 'json', type: 'bool', help: 'print {"ca","certs":[{"role","name","cert","key"}]}' },
    ],
    details: 'An existing ca.pem + ca-key.pem in <dir> is reused (new certificates for the same cluster);\n'
      + 'keep ca-key.pem offline in production. A service uses --tls.ca <dir>/ca.pem --tls.cert <role>-<name>.pem\n'
      + '--tls.key <role>-<name>-key.pem; its certificate\'s name must be its id (a store\'s node.id).',
    examples: [
      'hawser certs ./certs --stores s1,s2,s3 --coordinators c1,c2 --gateways g1 --admins admin',
      'hawser status --tls.ca certs/ca.pem --tls.cert certs/admin-admin.pem --tls.key certs/admin-admin-key.pem',
    ],
  },
  async run(args, io) {
    const dir = args.positionals[0]!;
    const hosts = names(args.str('hosts'));
    const requests: CertRequest[] = ROLE_OPTIONS.flatMap((r) => names(args.str(r.option)).map((name) => ({ role: r.role, name, hosts })));
    if (requests.length === 0) throw new UsageError('name at least one service: --stores, --coordinators, --gateways, --bridges or --admins', 'certs');
    let made;
    try {
      made = makeCerts(dir, requests, { days: args.int('days')! });
    } catch (e) {
      if (e instanceof CertsError) throw new OperationError(e.message, { cause: e });
      throw e;
    }
    if (args.bool('json')) {
      io.out(JSON.stringify({ ca: made.ca, certs: made.certs }) + '\n');
    } else {
      io.out(`CA: ${made.ca} (its key: ${made.caKey})\n`);
      for (const c of made.certs) io.out(`${c.role.padEnd(11)} ${c.name.padEnd(16)} ${c.cert}  ${c.key}\n`);
    }
    return 0;
  },
};
