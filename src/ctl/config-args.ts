// The arguments of `config set` and `config unset`, turned into one change, or a usage error
// naming the argument. Checked here with the server's own rules, so a typo never reaches it.
//
//   KEY=VALUE            an env var (--internal: an internal var); VALUE verbatim, '=' allowed
//   --file PATH=@LOCAL   a file var whose content is the local file LOCAL, byte for byte
//   --file PATH=TEXT     a file var whose content is TEXT itself ('@@' at the start: a literal '@')
//   --dynamic TYPE NAME KEY=VALUE...   a dynamic var read by the instance from a TYPE source,
//                        with its own settings (Vault's path=... key=...); --internal, --path too
import { type ConfigKind, filePathProblem, nameProblem, valueProblem } from '../rules/config.js';
import { settingsProblem, sourceTypeProblem } from '../rules/dynamic.js';
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

export interface DynamicArgs {
  type: string;
  /** NAME then its KEY=VALUE settings. */
  args: string[];
  internal: boolean;
  /** NAME is a file's path. */
  path: boolean;
}

export interface ParsedDynamicVar {
  name: string;
  kind: ConfigKind;
  from: string;
  config: Record<string, string>;
}

export function parseDynamicArgs({ type, args, internal, path }: DynamicArgs): ParsedDynamicVar {
  check(sourceTypeProblem(type));
  if (internal && path) throw new UsageError('--internal and --path exclude each other: a file var is never internal');
  const [name, ...settings] = args;
  if (name === undefined || name.includes('=')) throw new UsageError('config set --dynamic TYPE needs the var NAME, then its KEY=VALUE settings');
  const kind: ConfigKind = path ? 'file' : internal ? 'internal' : 'static';
  check(nameProblem(kind, name));
  if (settings.length === 0) throw new UsageError(`dynamic var ${name} needs its KEY=VALUE settings (e.g. path=secret/data/db key=/data/password for vault)`);
  const config = parseSettings(settings);
  check(settingsProblem(config, `dynamic var ${name}`));
  return { name, kind, from: type, config };
}

/** KEY=VALUE settings (a source's, or a dynamic var's), each key once. */
export function parseSettings(args: string[]): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new UsageError(`expected KEY=VALUE, got ${JSON.stringify(a)}`);
    const key = a.slice(0, eq);
    if (Object.hasOwn(settings, key)) throw new UsageError(`${JSON.stringify(key)} is given twice`);
    settings[key] = a.slice(eq + 1);
  }
  return settings;
}
