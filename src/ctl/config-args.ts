// The arguments of `config set` and `config unset`, turned into one change, or a usage error
// naming the argument. Checked here with the server's own rules, so a typo never reaches it.
//
//   KEY=VALUE            an env var (--internal: an internal var); VALUE verbatim, '=' allowed
//   --file PATH=@LOCAL   a file var whose content is the local file LOCAL, byte for byte
//   --file PATH=TEXT     a file var whose content is TEXT itself ('@@' at the start: a literal '@')
import { type ConfigKind, filePathProblem, nameProblem, valueProblem } from '../rules/config.js';
import { UsageError } from './errors.js';

export interface ParsedVar {
  name: string;
  kind: ConfigKind;
  value: Buffer;
}

export interface SetArgs {
  assignments: string[];
  files: string[];
  internal: boolean;
}

export type ReadLocal = (path: string) => Buffer;

export function parseSetArgs(args: SetArgs, readLocal: ReadLocal): ParsedVar[] {
  if (args.assignments.length === 0 && args.files.length === 0) {
    throw new UsageError('config set needs KEY=VALUE arguments or --file PATH=@LOCALFILE');
  }
  const kind: ConfigKind = args.internal ? 'internal' : 'static';
  const vars = [
    ...args.assignments.map((a) => parseAssignment(a, kind)),
    ...args.files.map((f) => parseFileAssignment(f, readLocal)),
  ];
  noDuplicates(vars.map((v) => v.name));
  return vars;
}

export function parseAssignment(text: string, kind: 'static' | 'internal'): ParsedVar {
  const eq = text.indexOf('=');
  if (eq < 0) throw new UsageError(`expected KEY=VALUE, got ${JSON.stringify(text)}`);
  const name = text.slice(0, eq);
  const value = Buffer.from(text.slice(eq + 1));
  check(nameProblem(kind, name) ?? valueProblem(kind, name, value));
  return { name, kind, value };
}

export function parseFileAssignment(text: string, readLocal: ReadLocal): ParsedVar {
  const eq = text.indexOf('=');
  if (eq < 0) throw new UsageError(`expected --file PATH=@LOCALFILE (or PATH=CONTENT), got ${JSON.stringify(text)}`);
  const name = text.slice(0, eq);
  check(filePathProblem(name));
  const rest = text.slice(eq + 1);
  let value: Buffer;
  if (rest.startsWith('@@')) value = Buffer.from(rest.slice(1));
  else if (rest.startsWith('@')) {
    if (rest.length === 1) throw new UsageError(`--file ${name}=@ needs a local file name after the '@'`);
    value = readLocal(rest.slice(1));
  } else value = Buffer.from(rest);
  check(valueProblem('file', name, value));
  return { name, kind: 'file', value };
}

/** Names for `config unset`: env var names or file paths. */
export function parseUnsetNames(names: string[]): string[] {
  if (names.length === 0) throw new UsageError('config unset needs the names (or file paths) to remove');
  for (const name of names) {
    // A file path rule admits every env var name too.
    check(filePathProblem(name));
  }
  noDuplicates(names);
  return names;
}

function noDuplicates(names: string[]): void {
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) throw new UsageError(`${JSON.stringify(name)} is given twice`);
    seen.add(name);
  }
}

function check(problem: string | undefined): void {
  if (problem) throw new UsageError(problem);
}
