// ListUrls: the URLs of the HTTP ingress and how many instances serve each.
import type { ListUrlsRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/ListUrlsRequest.js';
import type { ListUrlsResponse } from '../../../protocol/generated/waypoint_entrypoint/control/v1/ListUrlsResponse.js';
import type { ServerContext } from '../../context.js';
import { urlServiceOf } from '../../tunnel/urls.js';

export function listUrls(ctx: ServerContext, req: ListUrlsRequest__Output): ListUrlsResponse {
  return { urls: urlServiceOf(ctx.urls).list(req.app) };
}
