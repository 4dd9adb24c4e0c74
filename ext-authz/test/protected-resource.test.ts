import { describe, expect, it } from "vitest";
import {
  protectedResourceMetadata,
  resourceMetadataUrl,
  resourceUrl,
} from "../src/policy/protected-resource.ts";

/** RFC 9728 metadata and the URLs derived from `resource_base_url`. */
const settings = (resourceBaseUrl: string) => ({
  resourceBaseUrl,
  authorizationServers: ["https://idp.example/realms/gw"],
});
const hasScope = (scope: string) => scope === "calculator";

describe("protected-resource metadata", () => {
  it.each(["https://gw.example", "https://gw.example/", "https://gw.example///"])(
    "strips the trailing slashes of %s from the resource and its metadata URL",
    (base) => {
      expect(resourceUrl(settings(base), "/calculator/mcp")).toBe(
        "https://gw.example/calculator/mcp",
      );
      expect(resourceMetadataUrl(settings(base), "/calculator/mcp")).toBe(
        "https://gw.example/.well-known/oauth-protected-resource/calculator/mcp",
      );
      expect(protectedResourceMetadata(settings(base), "/mcp", hasScope)?.resource).toBe(
        "https://gw.example/mcp",
      );
    },
  );

  it("keeps a path prefix of the base URL, without its trailing slashes", () => {
    expect(resourceMetadataUrl(settings("https://gw.example/gateway//"), "/mcp")).toBe(
      "https://gw.example/gateway/.well-known/oauth-protected-resource/mcp",
    );
  });

  it("describes the REST API at /mcp", () => {
    expect(protectedResourceMetadata(settings("https://gw.example/"), "/mcp", hasScope)).toEqual({
      resource: "https://gw.example/mcp",
      authorization_servers: ["https://idp.example/realms/gw"],
      bearer_methods_supported: ["header"],
      resource_name: "MCP Gateway REST API",
    });
  });

  it("describes a known scope's endpoints and nothing else", () => {
    expect(
      protectedResourceMetadata(settings("https://gw.example"), "/calculator/sse", hasScope),
    ).toMatchObject({
      resource: "https://gw.example/calculator/sse",
      resource_name: "MCP Gateway: calculator tools",
    });
    for (const endpoint of ["/", "", "/git/mcp", "/mcp/invoke", "/calculator/mcp/", "/mcp/"]) {
      expect(protectedResourceMetadata(settings("https://gw.example"), endpoint, hasScope)).toBe(
        undefined,
      );
    }
  });

  it("returns a copy of the authorization servers", () => {
    const servers = ["https://idp.example"];
    const document = protectedResourceMetadata(
      { resourceBaseUrl: "https://gw.example", authorizationServers: servers },
      "/mcp",
      hasScope,
    );
    document?.authorization_servers.push("https://evil.example");
    expect(servers).toEqual(["https://idp.example"]);
  });
});
