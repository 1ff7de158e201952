// The error policy of a dynamic variable (issue 15 item 4), as a pure state machine:
//   - a good read sets the value;
//   - `not-found` drops it (the backend says it is gone: the app must not run on a stale one);
//   - `transient`, `denied`, `invalid` keep the last good value (a backend down, a token being
//     rotated): no restart, the app runs on; a variable with no good value yet stays left out;
//   - a variable whose definition changed keeps serving its previous value until its first read
//     under the new definition; if that read fails, the old value (of a definition the operator
//     replaced) is dropped.
// Each distinct failure is said once (`failureToLog`), not at every refresh.
import type { DynamicFailure, DynamicResult } from './source.js';

export interface VarState {
  /** The last good value, if any (undefined: left out of the app's config). */
  value?: string;
  /** When `value` was last read (ms since the epoch). */
  resolvedAt?: number;
  /** The current failure; undefined while the variable reads fine. */
  error?: { failure: DynamicFailure; message: string };
  /** Its definition (new, or changed) has not been read yet. */
  stale: boolean;
  /** The failure last logged ("failure:message"), to say each one once. */
  logged?: string;
}

/** A var not read yet (stale: its definition has not been read). */
export function newState(): VarState {
  return { stale: true };
}

/** The same variable under a new definition (its `config` or source changed). */
export function redefined(state: VarState): VarState {
  return { ...state, stale: true };
}

export type Consequence = 'set' | 'kept' | 'left-out' | 'dropped';

export interface Transition {
  state: VarState;
  /** What became of the value: for the log line. */
  consequence: Consequence;
}

export function applyResult(state: VarState, result: DynamicResult, now: number): Transition {
  if (result.ok) return { state: { value: result.value, resolvedAt: now, stale: false, logged: undefined }, consequence: 'set' };
  const error = { failure: result.failure, message: result.message };
  const base = { error, stale: false, logged: state.logged };
  if (result.failure === 'not-found' || state.stale) {
    return { state: base, consequence: state.value === undefined ? 'left-out' : 'dropped' };
  }
  if (state.value === undefined) return { state: base, consequence: 'left-out' };
  return { state: { ...base, value: state.value, resolvedAt: state.resolvedAt }, consequence: 'kept' };
}

/** The failure to log now, if it is one not said yet; marks it said. */
export function failureToLog(state: VarState): { state: VarState; log: boolean } {
  if (!state.error) return { state, log: false };
  const key = `${state.error.failure}:${state.error.message}`;
  if (state.logged === key) return { state, log: false };
  return { state: { ...state, logged: key }, log: true };
}

export const CONSEQUENCE_TEXT: Record<Consequence, string> = {
  set: 'resolved',
  kept: 'the app keeps its last good value',
  'left-out': 'the variable is left out of the app\'s config',
  dropped: 'its value is removed from the app\'s config',
};
