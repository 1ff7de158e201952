// A certificate authority made for one test file with openssl: a CA, a server certificate it
// signed (for 127.0.0.1, localhost and backend.test), a client certificate for mutual TLS, and
// a second, unrelated CA whose trust must not be enough.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestCa {
  dir: string;
  /** PEM file paths */
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  otherCaCert: string;
  pem(file: string): string;
  cleanup(): void;
}

function openssl(cwd: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string): void {
  openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.crt`);
}

function sign(dir: string, ca: string, name: string, ext: string): void {
  writeFileSync(path.join(dir, `${name}.ext`), ext);
  openssl(dir, 'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${name}`,
    '-keyout', `${name}.key`, '-out', `${name}.csr`);
  openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial',
    '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`);
}

export function makeTestCa(): TestCa {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wpe-ca-'));
  makeCa(dir, 'test-ca');
  makeCa(dir, 'other-ca');
  sign(dir, 'test-ca', 'server', 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:backend.test\nextendedKeyUsage=serverAuth\n');
  sign(dir, 'test-ca', 'client', 'extendedKeyUsage=clientAuth\n');
  const file = (n: string) => path.join(dir, n);
  return {
    dir,
    caCert: file('test-ca.crt'),
    serverCert: file('server.crt'),
    serverKey: file('server.key'),
    clientCert: file('client.crt'),
    clientKey: file('client.key'),
    otherCaCert: file('other-ca.crt'),
    pem: (f) => readFileSync(f, 'utf8'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
