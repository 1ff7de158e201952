// The URL token: what the config's url_service hands an instance, and what its tunnel's Register
// must show. It is signed like every token of ours (`wp1.<claims>.<mac>`, kind "url") and bound
// to one deployment, but has no record: it is made from the deployment itself (id and creation
// time), so it is the same in every config push and across server restarts, and a config
// re-push is never a change. It proves only "this server asked this deployment for a tunnel";
// the caller of Register is still checked by its own entrypoint token.
import { permissionDenied, unauthenticated } from '../rpc/status.js';
import type { Deployment } from '../store/store.js';
import type { TokenSigner } from '../auth/tokens.js';

export function urlToken(signer: TokenSigner, deployment: Deployment): string {
  return signer.sign({ kind: 'url', id: deployment.id, deployment: deployment.id, iat: Math.floor(deployment.createdAt / 1000) });
}

/** Throws UNAUTHENTICATED for a missing or forged token, PERMISSION_DENIED for another kind or deployment. */
export function checkUrlToken(signer: TokenSigner, token: string, deploymentId: string): void {
  if (!token.trim()) throw unauthenticated('Register needs the URL token of the config\'s url_service in its request');
  const verified = signer.verify(token);
  if (!verified.ok) throw unauthenticated(`invalid URL token: ${verified.reason}`);
  const { claims } = verified;
  if (claims.kind !== 'url') throw permissionDenied(`that is an ${claims.kind} token, not the URL token of the config's url_service`);
  if (claims.deployment !== deploymentId || claims.id !== deploymentId) {
    throw permissionDenied(`the URL token belongs to deployment ${claims.deployment}, not ${deploymentId}`);
  }
}
