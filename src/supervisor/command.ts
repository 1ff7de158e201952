// PATH lookup done by us, before spawning, so that "not found" (127) and "not executable" (126)
// are told apart with a clear message, as a shell does, instead of a generic spawn error.
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';

export type CommandLookup =
  | { ok: true; path: string }
  | { ok: false; exitCode: 126 | 127; reason: string };

export const EXIT_NOT_EXECUTABLE = 126;
export const EXIT_NOT_FOUND = 127;

type Candidate = 'executable' | 'not-executable' | 'directory' | 'missing';

function inspect(file: string): Candidate {
  // No exception for a missing entry: most PATH directories miss, and each throw costs.
  const stat = statSync(file, { throwIfNoEntry: false });
  if (stat === undefined) return 'missing';
  if (!stat.isFile()) return 'directory';
  try {
    accessSync(file, constants.X_OK);
    return 'executable';
  } catch {
    return 'not-executable';
  }
}

/** Resolves `command` as execvp would: a name with a slash is used as is, else searched on PATH. */
export function resolveCommand(command: string, envPath: string | undefined, cwd: string): CommandLookup {
  if (command === '') return { ok: false, exitCode: EXIT_NOT_FOUND, reason: 'empty command name' };
  if (command.includes('/')) {
    const state = inspect(path.resolve(cwd, command));
    if (state === 'executable') return { ok: true, path: command };
    if (state === 'missing') return { ok: false, exitCode: EXIT_NOT_FOUND, reason: 'no such file or directory' };
    if (state === 'directory') return { ok: false, exitCode: EXIT_NOT_EXECUTABLE, reason: 'is a directory' };
    return { ok: false, exitCode: EXIT_NOT_EXECUTABLE, reason: 'permission denied (not an executable file)' };
  }
  // As a shell: an unset PATH means the default search path, an empty entry the cwd, and a
  // directory of that name is skipped.
  const dirs = (envPath ?? '/usr/local/bin:/usr/bin:/bin').split(':');
  let sawNotExecutable = false;
  for (const dir of dirs) {
    const candidate = path.join(dir === '' ? '.' : dir, command);
    const state = inspect(path.resolve(cwd, candidate));
    if (state === 'executable') return { ok: true, path: path.resolve(cwd, candidate) };
    if (state === 'not-executable') sawNotExecutable = true;
  }
  return sawNotExecutable
    ? { ok: false, exitCode: EXIT_NOT_EXECUTABLE, reason: 'permission denied (not an executable file)' }
    : { ok: false, exitCode: EXIT_NOT_FOUND, reason: 'command not found' };
}
