// Where an image is: skopeo's transport syntax, Docker's rules for registry names.
import { describe, expect, it } from 'vitest';
import { parseChallenge } from '../../../src/image/registry/auth.js';
import { parseLocation } from '../../../src/image/reference.js';

describe('parseLocation', () => {
  it.each([
    ['docker://127.0.0.1:5000/app:v1', { transport: 'registry', registry: '127.0.0.1:5000', repository: 'app', tag: 'v1', digest: undefined }],
    ['127.0.0.1:5000/team/app', { transport: 'registry', registry: '127.0.0.1:5000', repository: 'team/app', tag: 'latest', digest: undefined }],
    ['localhost/app:1.2', { transport: 'registry', registry: 'localhost', repository: 'app', tag: '1.2', digest: undefined }],
    ['ghcr.io/org/app@sha256:' + 'a'.repeat(64), { transport: 'registry', registry: 'ghcr.io', repository: 'org/app', tag: undefined, digest: 'sha256:' + 'a'.repeat(64) }],
    ['node:22', { transport: 'registry', registry: 'docker.io', repository: 'library/node', tag: '22', digest: undefined }],
    ['docker://someone/app', { transport: 'registry', registry: 'docker.io', repository: 'someone/app', tag: 'latest', digest: undefined }],
    ['oci:/tmp/layout:v2', { transport: 'oci', dir: '/tmp/layout', tag: 'v2' }],
    ['oci:relative/dir', { transport: 'oci', dir: 'relative/dir', tag: undefined }],
    ['docker-archive:/tmp/app.tar', { transport: 'docker-archive', file: '/tmp/app.tar', name: undefined }],
    ['docker-archive:/tmp/app.tar:wp/app:v1', { transport: 'docker-archive', file: '/tmp/app.tar', name: 'wp/app:v1' }],
  ])('%s', (text, expected) => {
    expect(parseLocation(text)).toEqual(expected);
  });

  it.each([
    ['oci:', 'needs a directory'],
    ['docker-archive:', 'needs a file'],
    ['oci-archive:/tmp/x.tar', 'unsupported transport oci-archive:'],
    ['dir:/tmp/x', 'unsupported transport dir:'],
    ['127.0.0.1:5000/App', 'not a valid repository name'],
    ['127.0.0.1:5000/app:bad/tag', 'not a valid repository name'],
    ['127.0.0.1:5000/app@sha256:short', 'is not a sha256 digest'],
    ['127.0.0.1:5000/', 'no repository name'],
  ])('refuses %j: %s', (text, why) => {
    expect(() => parseLocation(text)).toThrow(why);
  });
});

describe('parseChallenge', () => {
  it('reads a Bearer challenge with realm, service and scope', () => {
    expect(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"')).toEqual({
      scheme: 'bearer',
      realm: 'https://auth.example/token',
      service: 'registry.example',
      scope: 'repository:a/b:pull',
    });
  });
  it('reads a Basic challenge', () => {
    expect(parseChallenge('Basic realm="Registry Realm"')).toEqual({ scheme: 'basic', realm: 'Registry Realm' });
  });
  it('has nothing for a missing or unknown challenge', () => {
    expect(parseChallenge(null)).toBeUndefined();
    expect(parseChallenge('Negotiate abc')).toBeUndefined();
    expect(parseChallenge('Bearer service="x"')).toBeUndefined(); // no realm to ask
  });
});
