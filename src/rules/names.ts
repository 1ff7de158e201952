// src/rules/ holds the rules the server and the ctl both apply (names, config vars, listen
// addresses, URL flags, invite lives), so that the ctl refuses a bad input before any call with
// the same rule the server enforces, without importing the server.
//
// Names the operator types and the server keeps: checked by the ctl before any call (a usage
// error, at once) and by the server as the rule (a request from any client).

/** App names appear in commands and labels: keep them to a safe, familiar alphabet. */
export const APP_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/i;
