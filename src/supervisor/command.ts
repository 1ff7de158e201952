// PATH lookup done by us, before spawning, so that "not found" (127) and "not executable" (126)
// are told apart with a clear message, as a shell does, instead of a generic spawn error.
// Nothing here throws: whatever a name or a PATH holds (a file as a directory, a name too long,
// a loop of links, a NUL byte), the answer is a lookup failure, never an exception.
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';

export type CommandLookup =
  | { ok: true; path: string }
  | { ok: false; exitCode: 126 | 127; reason: string; invalid?: true };

export const EXIT_NOT_EXECUTABLE = 126;
export const EXIT_NOT_FOUND = 127;

type Candidate =
  | { state: 'executable' | 'not-executable' | 'directory' }
  | { state: 'missing'; reason: string }
  | { state: 'denied' };

/** A stat error, as the shell words it; any other error is "not there" too. */
const MISSING_REASONS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'not a directory',
  ENAMETOOLONG: 'file name too long',
  ELOOP: 'too many levels of symbolic links',
};

function inspect(file: string): Candidate {
  let stat;
  try {
    // No exception for a missing entry: most PATH directories miss, and each throw costs.
    stat = statSync(file, { throwIfNoEntry: false });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    // A directory on the way that we may not search: the file may exist, we cannot run it.
    if (code === 'EACCES') return { state: 'denied' };
    return { state: 'missing', reason: MISSING_REASONS[code] ?? `cannot be looked up (${code || (err as Error).message})` };
  }
  if (stat === undefined) return { state: 'missing', reason: MISSING_REASONS.ENOENT };
  if (!stat.isFile()) return { state: 'directory' };
  try {
    accessSync(file, constants.X_OK);
    return { state: 'executable' };
  } catch {
    return { state: 'not-executable' };
  }
}

const NOT_EXECUTABLE = 'permission denied (not an executable file)';

/**
 * `command` in the PATH entry `dir`, absolute. A plain absolute entry (the usual case) is joined
 * by hand: path.resolve's normalising costs start-up time, and there is nothing to normalise.
 */
function candidatePath(dir: string, command: string, cwd: string): string {
  if (dir.startsWith('/') && !/\/\.{0,2}(\/|$)/.test(dir)) return `${dir}/${command}`; // no //, /./, /../, trailing /
  return path.resolve(cwd, path.join(dir === '' ? '.' : dir, command));
}

/** Resolves `command` as execvp would: a name with a slash is used as is, else searched on PATH. */
export function resolveCommand(command: string, envPath: string | undefined, cwd: string): CommandLookup {
  if (command === '') return { ok: false, exitCode: EXIT_NOT_FOUND, reason: 'empty command name' };
  // No file name can hold one: a command line cannot carry it to exec either.
  if (command.includes('\0')) return { ok: false, exitCode: EXIT_NOT_FOUND, reason: 'the name contains a NUL byte', invalid: true };
  if (command.includes('/')) {
    const found = inspect(path.resolve(cwd, command));
    if (found.state === 'executable') return { ok: true, path: command };
    if (found.state === 'missing') return { ok: false, exitCode: EXIT_NOT_FOUND, reason: found.reason };
    if (found.state === 'directory') return { ok: false, exitCode: EXIT_NOT_EXECUTABLE, reason: 'is a directory' };
    if (found.state === 'denied') return { ok: false, exitCode: EXIT_NOT_EXECUTABLE, reason: 'permission denied' };
    return { ok: false, exitCode: EXIT_NOT_EXECUTABLE, reason: NOT_EXECUTABLE };
  }
  // As a shell: an unset PATH means the default search path, an empty entry the cwd, and a
  // directory of that name is skipped; an entry that cannot hold it (a file, a NUL) is skipped.
  const dirs = (envPath ?? '/usr/local/bin:/usr/bin:/bin').split(':');
  let sawNotExecutable = false;
  for (const dir of dirs) {
    const candidate = candidatePath(dir, command, cwd);
    const found = inspect(candidate);
    if (found.state === 'executable') return { ok: true, path: candidate };
    if (found.state === 'not-executable' || found.state === 'denied') sawNotExecutable = true;
  }
  return sawNotExecutable
    ? { ok: false, exitCode: EXIT_NOT_EXECUTABLE, reason: NOT_EXECUTABLE }
    : { ok: false, exitCode: EXIT_NOT_FOUND, reason: 'command not found' };
}
