// Channel credentials from the settings: plaintext, TLS against the system roots, TLS that also
// trusts WAYPOINT_SERVER_TLS_CA_FILE, or TLS without any verification (skip-verify).
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { ChannelCredentials } from '@grpc/grpc-js';
import { grpc } from '../protocol/instance.js';
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
  if (tlsMode(settings) !== 'plaintext') dropIpServernameWarning();
  return new OwnedSocketsCredentials(baseCredentials(settings, readFile));
}

/**
 * grpc-js sends the target host as the TLS server name, an IP address too (WAYPOINT_SERVER_ADDR
 * =10.0.0.5:9701), and Node then prints a DeprecationWarning (DEP0123) on our stderr, in the
 * middle of the app's output. The name is still verified against the certificate's IP SANs;
 * only that one warning is dropped.
 */
function dropIpServernameWarning(): void {
  const emit = process.emitWarning as (warning: string | Error, ...rest: unknown[]) => void;
  if ((emit as { wrapped?: boolean }).wrapped) return;
  const filtered = (warning: string | Error, ...rest: unknown[]) => {
    const code = rest.find((r): r is string => typeof r === 'string' && /^DEP\d+$/.test(r)) ?? (rest[0] as { code?: string })?.code;
    if (code === 'DEP0123') return;
    emit.call(process, warning, ...rest);
  };
  (filtered as { wrapped?: boolean }).wrapped = true;
  process.emitWarning = filtered as typeof process.emitWarning;
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
