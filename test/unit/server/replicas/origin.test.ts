// Who a call is for: the original caller of a call another replica forwarded, only when the
// call has the operator's authority and the marks their proof made with the replicas' key.
import { Metadata } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { TokenSigner } from '../../../../src/server/auth/tokens.js';
import { HOP_PROOF, originOf, proveHop } from '../../../../src/server/replicas/origin.js';
import { REPLICA_METADATA } from '../../../../src/server/replicas/replicas.js';

const signer = new TokenSigner(Buffer.alloc(32, 3));
const operator = { kind: 'operator' as const, tokenId: 'REPLICA-TOKEN' };

function marked(prove = true): Metadata {
  const md = new Metadata();
  md.set(REPLICA_METADATA.hop, '01REPLICAA');
  md.set(REPLICA_METADATA.forwardedFor, 'OPERATOR-TOKEN 10.0.0.9:5123');
  if (prove) proveHop(signer, md);
  return md;
}

describe('originOf', () => {
  it('records the original caller of a proven forwarded call, and its hop', () => {
    expect(originOf(operator, marked(), '10.0.0.5:40000', signer)).toEqual({
      principal: { kind: 'operator', tokenId: 'OPERATOR-TOKEN' },
      peer: '10.0.0.9:5123',
      hop: '01REPLICAA',
    });
  });

  it('ignores marks without their proof, with another key\'s, altered, or on an entrypoint\'s call', () => {
    const direct = { principal: operator, peer: '10.0.0.5:40000' };
    expect(originOf(operator, marked(false), '10.0.0.5:40000', signer)).toEqual(direct);
    expect(originOf(operator, marked(), '10.0.0.5:40000', new TokenSigner(Buffer.alloc(32, 4)))).toEqual(direct);
    const altered = marked();
    altered.set(REPLICA_METADATA.forwardedFor, 'SOMEONE-ELSE 10.0.0.9:5123');
    expect(originOf(operator, altered, '10.0.0.5:40000', signer)).toEqual(direct);
    const entrypoint = { kind: 'entrypoint' as const, tokenId: 'E', deploymentId: 'D' };
    expect(originOf(entrypoint, marked(), '10.0.0.5:40000', signer)).toEqual({ principal: entrypoint, peer: '10.0.0.5:40000' });
    expect(marked().get(HOP_PROOF)).toHaveLength(1);
  });

  it('takes a call without marks as it came', () => {
    expect(originOf(operator, new Metadata(), '[::1]:7', signer)).toEqual({ principal: operator, peer: '[::1]:7' });
  });
});
