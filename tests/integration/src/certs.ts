// Test certificates for the TLS scenarios: a throw-away CA, a server certificate for
// 127.0.0.1/localhost and client certificates, made with openssl at test time under the
// harness's temp dir (removed by Harness.close(); never committed). One implementation,
// the gateway's test kit (libs/gateway/src/transports/test-certs.ts), which @hawser/store
// builds before this project; `hawser certs` is the tool for real deployments.
export { makeTestPki, makeCa, makeCert, OpensslMissingError, type TestPki, type CertFiles, type LeafOptions } from '@hawser/gateway/dist/transports/test-certs';
