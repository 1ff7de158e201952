// Where an image is, in skopeo's transport syntax: `docker://host[:port]/repo[:tag|@digest]` (or
// the same without `docker://`), `oci:DIR[:tag]` (an OCI image layout) and `docker-archive:FILE[:name:tag]`
// (what `docker save` / `podman save` write). As skopeo does, the path ends at the first colon.

export type ImageLocation =
  | { transport: 'registry'; registry: string; repository: string; tag?: string; digest?: string }
  | { transport: 'oci'; dir: string; tag?: string }
  | { transport: 'docker-archive'; file: string; name?: string };

export class ReferenceError extends Error {}

const DEFAULT_REGISTRY = 'docker.io';

export function parseLocation(text: string): ImageLocation {
  if (text.startsWith('oci:')) {
    const [dir, tag] = splitFirst(text.slice('oci:'.length));
    if (dir === '') throw new ReferenceError(`${text}: oci: needs a directory, as oci:DIR[:tag]`);
    if (tag !== undefined && !/^[\w][\w.-]{0,127}$/.test(tag)) throw new ReferenceError(`${text}: ${JSON.stringify(tag)} is not a valid tag`);
    return { transport: 'oci', dir, tag };
  }
  if (text.startsWith('docker-archive:')) {
    const [file, name] = splitFirst(text.slice('docker-archive:'.length));
    if (file === '') throw new ReferenceError(`${text}: docker-archive: needs a file, as docker-archive:FILE[:name:tag]`);
    if (name !== undefined) parseRegistryReference(name, text); // checked, kept as written
    return { transport: 'docker-archive', file, name };
  }
  const transport = /^([a-z-]+):(?!\d)/.exec(text);
  if (transport && transport[1] !== 'docker') {
    throw new ReferenceError(`${text}: unsupported transport ${transport[1]}: (use docker://, oci: or docker-archive:)`);
  }
  const ref = text.startsWith('docker://') ? text.slice('docker://'.length) : text;
  return { transport: 'registry', ...parseRegistryReference(ref, text) };
}

function splitFirst(rest: string): [string, string | undefined] {
  const at = rest.indexOf(':');
  return at < 0 ? [rest, undefined] : [rest.slice(0, at), rest.slice(at + 1)];
}

/** Docker's own rules: a first component with a dot, a colon or `localhost` names the registry. */
export function parseRegistryReference(
  ref: string,
  original = ref,
): { registry: string; repository: string; tag?: string; digest?: string } {
  const bad = (why: string) => new ReferenceError(`${original}: ${why}`);
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw bad(`${JSON.stringify(digest)} is not a sha256 digest`);
  }
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  let registry = DEFAULT_REGISTRY;
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first;
    rest = rest.slice(slash + 1);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!/^[\w][\w.-]{0,127}$/.test(tag)) throw bad(`${JSON.stringify(tag)} is not a valid tag`);
  }
  if (rest === '') throw bad('no repository name');
  if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(rest)) {
    throw bad(`${JSON.stringify(rest)} is not a valid repository name (lower-case letters, digits, . _ - and /)`);
  }
  const repository = registry === DEFAULT_REGISTRY && !rest.includes('/') ? `library/${rest}` : rest;
  if (tag === undefined && digest === undefined) tag = 'latest';
  return { registry, repository, tag, digest };
}

export function describeLocation(loc: ImageLocation): string {
  switch (loc.transport) {
    case 'registry':
      return `${loc.registry}/${loc.repository}${loc.tag ? `:${loc.tag}` : ''}${loc.digest ? `@${loc.digest}` : ''}`;
    case 'oci':
      return `oci:${loc.dir}${loc.tag ? `:${loc.tag}` : ''}`;
    case 'docker-archive':
      return `docker-archive:${loc.file}${loc.name ? `:${loc.name}` : ''}`;
  }
}
