/**
 * RFC 9728 protected-resource metadata, one document per endpoint: the MCP client follows the
 * `resource_metadata` URL from a 401 to find the authorization servers for that endpoint.
 */
import { scopeOfEndpoint } from "../../../contract/src/mcp-wire.ts";
import { RESOURCE_METADATA_PREFIX } from "./route.ts";

export type ResourceServerSettings = {
  /** Public base URL of the gateway, without a trailing slash. */
  resourceBaseUrl: string;
  authorizationServers: readonly string[];
};

export type ProtectedResourceMetadata = {
  resource: string;
  authorization_servers: string[];
  bearer_methods_supported: ["header"];
  resource_name: string;
};

function base(settings: ResourceServerSettings): string {
  return settings.resourceBaseUrl.replace(/\/+$/, "");
}

/** The endpoint's resource identifier: the `resource` of its metadata and an accepted `aud`. */
export function resourceUrl(settings: ResourceServerSettings, endpoint: string): string {
  return `${base(settings)}${endpoint}`;
}

export function resourceMetadataUrl(settings: ResourceServerSettings, endpoint: string): string {
  return `${base(settings)}${RESOURCE_METADATA_PREFIX}${endpoint}`;
}

/** Known endpoints: `/{scope}/mcp`, `/{scope}/sse` and `/mcp` (the REST invoke and jobs API). */
export function protectedResourceMetadata(
  settings: ResourceServerSettings,
  endpoint: string,
  hasScope: (scope: string) => boolean,
): ProtectedResourceMetadata | undefined {
  const scope = scopeOfEndpoint(endpoint);
  let name: string;
  if (endpoint === "/mcp") name = "MCP Gateway REST API";
  else if (scope !== undefined && hasScope(scope)) name = `MCP Gateway: ${scope} tools`;
  else return undefined;
  return {
    resource: resourceUrl(settings, endpoint),
    authorization_servers: [...settings.authorizationServers],
    bearer_methods_supported: ["header"],
    resource_name: name,
  };
}
