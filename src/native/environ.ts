// Secrets out of our own environment. Removing a variable from process.env only drops its
// pointer: the bytes stay in the block the kernel gave us at exec, and /proc/<pid>/environ
// shows that block to every process of our uid (the app, each exec session). The addon
// overwrites them; without it (an addon that cannot load) the variable is still unset and the
// caller says that the bytes remain.
import { posix } from './posix.js';

export type EraseResult = { ok: true } | { ok: false; why: string };

export function eraseFromEnviron(name: string): EraseResult {
  let erased: number;
  try {
    erased = posix().eraseEnv(name);
  } catch (err) {
    delete process.env[name];
    return { ok: false, why: (err as Error).message.split('\n')[0] };
  }
  delete process.env[name]; // already unset by the addon: keeps process.env's view in step
  return erased < 0 ? { ok: false, why: '/proc/self/stat does not say where the environment block is' } : { ok: true };
}
