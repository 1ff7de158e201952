// How long an invite may live: the server's default and ceiling, which the ctl also checks
// `--invite-ttl` against before any call.

export const DEFAULT_INVITE_TTL_SECONDS = 24 * 60 * 60;
/** Longer lives are what "never" is for; this keeps every expiry a plain date. */
export const MAX_INVITE_TTL_SECONDS = 10 * 365 * 24 * 60 * 60;
