// `--invite-ttl`: how long an invite can be exchanged, a duration (24h, 90m, 168h) or "never".
import { MAX_INVITE_TTL_SECONDS } from '../rules/invite-ttl.js';
import { parseDuration, SettingsError } from '../settings.js';
import { UsageError } from './errors.js';

/** Seconds, or null for never. A usage error for anything else (0 and sub-second lives included). */
export function parseInviteTtl(flag: string, text: string): number | null {
  if (text.trim().toLowerCase() === 'never') return null;
  let ms: number;
  try {
    ms = parseDuration(flag, text);
  } catch (err) {
    if (err instanceof SettingsError) throw new UsageError(`${err.message}, or "never"`);
    throw err;
  }
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) throw new UsageError(`${flag} must be at least 1s (or "never")`);
  if (seconds > MAX_INVITE_TTL_SECONDS) throw new UsageError(`${flag} is at most 10 years (87600h), or "never"`);
  return seconds;
}

/** As the control API takes it. */
export function inviteTtlMessage(seconds: number | null): { seconds: number } | { never_expires: true } {
  return seconds === null ? { never_expires: true } : { seconds };
}
