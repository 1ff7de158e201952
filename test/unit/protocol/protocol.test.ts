// Wire-level conventions: the inline keepalive's exact bytes (checked against protobufjs's own
// encoding of the InlineKeepalive message), version negotiation, token extraction, and the
// metadata our client sends on every call.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { callHeaders } from '../../../src/connection/call-metadata.js';
import descriptor from '../../../src/protocol/generated/descriptor.json';
import {
  dropInlineKeepalives,
  INLINE_KEEPALIVE_BYTES,
  INLINE_KEEPALIVE_SIGNATURE,
  isInlineKeepalive,
  isKeepalive,
  KEEPALIVE,
} from '../../../src/protocol/keepalive.js';
import { grpc, protocol } from '../../../src/protocol/load.js';
import { formatRange, negotiate, parseRange, PROTOCOL_VERSIONS, tokenOf } from '../../../src/protocol/metadata.js';

const require = createRequire(import.meta.url);
const protobuf = require('protobufjs') as typeof import('protobufjs');
const root = protobuf.Root.fromJSON(descriptor as protobuf.INamespace);

describe('inline keepalive', () => {
  it('INLINE_KEEPALIVE_BYTES is exactly protobufjs’s encoding of InlineKeepalive{signature}', () => {
    const type = root.lookupType('hashicorp.waypoint.InlineKeepalive');
    const encoded = Buffer.from(type.encode(type.create({ signature: 'inline_keepalive' })).finish());
    expect(INLINE_KEEPALIVE_BYTES.equals(encoded)).toBe(true);
    expect(INLINE_KEEPALIVE_SIGNATURE).toBe('inline_keepalive');
    // Field 100000000, length-delimited: a 5-byte tag, then length 16 and the text.
    expect(INLINE_KEEPALIVE_BYTES.subarray(0, 5)).toEqual(Buffer.from([0x82, 0x90, 0xbc, 0xfd, 0x02]));
    expect(INLINE_KEEPALIVE_BYTES[5]).toBe(16);
  });

  it('is recognised exactly, and nothing else is', () => {
    expect(isInlineKeepalive(Buffer.from(INLINE_KEEPALIVE_BYTES))).toBe(true);
    const type = root.lookupType('hashicorp.waypoint.InlineKeepalive');
    const other = Buffer.from(type.encode(type.create({ signature: 'inline_keepalivf' })).finish());
    expect(isInlineKeepalive(other)).toBe(false);
    expect(isInlineKeepalive(Buffer.alloc(0))).toBe(false);
    expect(isInlineKeepalive(Buffer.concat([INLINE_KEEPALIVE_BYTES, Buffer.from([0])]))).toBe(false);
  });

  it('decoded as a config response unfiltered, it would look like an empty config', () => {
    const type = root.lookupType('hashicorp.waypoint.EntrypointConfigResponse');
    expect(type.toObject(type.decode(INLINE_KEEPALIVE_BYTES))).toEqual({});
  });

  it('the loaded protocol decodes keepalives to KEEPALIVE on streaming methods only, both ways', () => {
    const service = protocol().hashicorp.waypoint.Waypoint.service;
    expect(service.EntrypointConfig.responseDeserialize(INLINE_KEEPALIVE_BYTES)).toBe(KEEPALIVE);
    expect(service.EntrypointLogStream.requestDeserialize(INLINE_KEEPALIVE_BYTES)).toBe(KEEPALIVE);
    expect(service.EntrypointExecStream.requestDeserialize(INLINE_KEEPALIVE_BYTES)).toBe(KEEPALIVE);
    expect(service.EntrypointExecStream.responseDeserialize(INLINE_KEEPALIVE_BYTES)).toBe(KEEPALIVE);
    expect(isKeepalive(service.GetVersionInfo.responseDeserialize(INLINE_KEEPALIVE_BYTES))).toBe(false);
    // A real message still decodes as itself.
    const real = service.EntrypointConfig.responseSerialize({ config: { env_vars: [{ name: 'A', static: '1' }] } });
    expect(service.EntrypointConfig.responseDeserialize(real)).toMatchObject({ config: { env_vars: [{ name: 'A', static: '1' }] } });
  });

  it('dropInlineKeepalives is what the loader applies (idempotent use by client and server)', () => {
    expect(typeof dropInlineKeepalives).toBe('function');
  });
});

describe('negotiate', () => {
  it('overlapping ranges speak the lower of the two currents', () => {
    expect(negotiate({ minimum: 1, current: 1 }, { minimum: 1, current: 1 })).toBe(1);
    expect(negotiate({ minimum: 1, current: 3 }, { minimum: 2, current: 5 })).toBe(3);
    expect(negotiate({ minimum: 2, current: 5 }, { minimum: 1, current: 3 })).toBe(3);
    expect(negotiate({ minimum: 1, current: 1 }, { minimum: 0, current: 1 })).toBe(1);
  });

  it('disjoint ranges do not negotiate', () => {
    expect(negotiate({ minimum: 1, current: 1 }, { minimum: 5, current: 5 })).toBeUndefined();
    expect(negotiate({ minimum: 3, current: 4 }, { minimum: 1, current: 2 })).toBeUndefined();
    expect(negotiate({ minimum: 1, current: 1 }, { minimum: 0, current: 0 })).toBeUndefined();
  });

  it('our ranges are Waypoint’s today: 1,1 for both', () => {
    expect(formatRange(PROTOCOL_VERSIONS.api)).toBe('1,1');
    expect(formatRange(PROTOCOL_VERSIONS.entrypoint)).toBe('1,1');
    expect(parseRange('1,1')).toEqual({ minimum: 1, current: 1 });
    expect(parseRange(' 2 , 7 ')).toEqual({ minimum: 2, current: 7 });
    expect(parseRange('3,1')).toBeUndefined();
    expect(parseRange('x')).toBeUndefined();
    expect(parseRange(undefined)).toBeUndefined();
  });
});

describe('tokenOf', () => {
  const md = (pairs: Record<string, string>) => {
    const m = new grpc.Metadata();
    for (const [k, v] of Object.entries(pairs)) m.set(k, v);
    return (key: string) => m.get(key);
  };

  it('reads authorization first, then waypoint-token', () => {
    expect(tokenOf(md({ authorization: 'a', 'waypoint-token': 'b' }))).toBe('a');
    expect(tokenOf(md({ 'waypoint-token': 'b' }))).toBe('b');
  });

  it('drops a Bearer prefix and surrounding blanks; blank means absent', () => {
    expect(tokenOf(md({ authorization: 'Bearer  tok ' }))).toBe('tok');
    expect(tokenOf(md({ authorization: 'bearer tok' }))).toBe('tok');
    expect(tokenOf(md({ authorization: '  ', 'waypoint-token': 'w' }))).toBe('w');
    expect(tokenOf(md({}))).toBeUndefined();
  });
});

describe('call metadata', () => {
  it('names us, our protocol ranges and asks for inline keepalives; no auth without a token', () => {
    expect(Object.fromEntries(callHeaders({ version: '1.2.3' }))).toEqual({
      'client-api-protocol': '1,1',
      'client-entrypoint-protocol': '1,1',
      'client-version': '1.2.3',
      'wp-inline-keepalives': 'true',
    });
  });

  it('carries the token in both authorization and waypoint-token', () => {
    const headers = Object.fromEntries(callHeaders({ version: '1.2.3', token: 'tok' }));
    expect(headers.authorization).toBe('tok');
    expect(headers['waypoint-token']).toBe('tok');
    // and tokenOf, the server's reading of it, gets it back
    expect(tokenOf((k) => (headers[k] ? [headers[k]] : []))).toBe('tok');
  });
});
