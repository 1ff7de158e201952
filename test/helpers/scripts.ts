// Apps as files: a test that needs the app's command to vanish or move writes it as a script.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Writes `#!/bin/sh` + body to dir/name (parents made), executable; returns its path. */
export function writeShellScript(dir: string, name: string, body: string): string {
  const file = path.join(dir, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}
