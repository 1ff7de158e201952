// Channel credentials from the settings: plaintext, TLS against the system roots, TLS that also
// trusts WAYPOINT_SERVER_TLS_CA_FILE, or TLS without any verification (skip-verify).
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { ChannelCredentials } from '@grpc/grpc-js';
import { grpc } from '../protocol/load.js';
import type { Settings } from '../settings.js';
import { OwnedSocketsCredentials } from './owned-sockets.js';

export type TlsMode = 'plaintext' | 'tls' | 'tls-ca-file' | 'tls-skip-verify';

/** A setting that makes every connection attempt pointless: reported once, never retried. */
export class CredentialsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CredentialsError';
  }
}

type TlsSettings = Pick<Settings, 'serverTls' | 'serverTlsSkipVerify' | 'serverTlsCaFile'>;

/**
 * Skip-verify or a CA file imply TLS: both only mean something over TLS, and dialing plaintext
 * to a TLS server fails with errors that never mention the setting.
 */
export function tlsMode(settings: TlsSettings): TlsMode {
  if (settings.serverTlsSkipVerify) return 'tls-skip-verify';
  if (settings.serverTlsCaFile !== undefined) return 'tls-ca-file';
  return settings.serverTls ? 'tls' : 'plaintext';
}

/**
 * Built once per process: the CA file is read here, once. Throws CredentialsError when it
 * cannot be read or holds no certificate.
 */
export function channelCredentials(
  settings: TlsSettings,
  readFile: (file: string) => Buffer = (file) => readFileSync(file),
): ChannelCredentials {
  return new OwnedSocketsCredentials(baseCredentials(settings, readFile));
}

function baseCredentials(settings: TlsSettings, readFile: (file: string) => Buffer): ChannelCredentials {
  switch (tlsMode(settings)) {
    case 'plaintext':
      return grpc.credentials.createInsecure();
    case 'tls':
      return grpc.credentials.createSsl();
    case 'tls-ca-file':
      return grpc.credentials.createSsl(systemRootsPlus(readCaFile(settings.serverTlsCaFile!, readFile)));
    case 'tls-skip-verify':
      // Encryption without authentication: any certificate, any name (self-signed dev servers).
      return grpc.credentials.createSsl(null, null, null, {
        rejectUnauthorized: false,
        checkServerIdentity: () => undefined,
      });
  }
}

function readCaFile(file: string, readFile: (file: string) => Buffer): Buffer {
  let pem: Buffer;
  try {
    pem = readFile(file);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new CredentialsError(`cannot read WAYPOINT_SERVER_TLS_CA_FILE=${file}: ${reason}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new CredentialsError(`WAYPOINT_SERVER_TLS_CA_FILE=${file} holds no PEM certificate`);
  }
  return pem;
}

/** The CA file is an extra trust anchor: a server with a public certificate still verifies. */
function systemRootsPlus(pem: Buffer): Buffer {
  return Buffer.concat([Buffer.from(rootCertificates.join('\n') + '\n'), pem]);
}
