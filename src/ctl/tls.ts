// Certificates: whether a server certificate is its own CA, in which case clients on this
// machine can trust it directly (the context file records it as their CA file).
import { X509Certificate } from 'node:crypto';

export function isSelfSigned(pem: Buffer): boolean {
  try {
    const cert = new X509Certificate(pem);
    return cert.checkIssued(cert) && cert.verify(cert.publicKey);
  } catch {
    return false; // not parseable here: the TLS layer reports it when the server starts
  }
}
