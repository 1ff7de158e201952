// The URL service's entry point for the orchestrator, in the connection chunk (it needs gRPC,
// which disabled mode never loads).
export { APP_HOST, UrlService, type UrlServiceOptions } from './tunnel.js';
export { appPort } from './rules.js';
