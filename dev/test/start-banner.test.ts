import { describe, expect, it } from "vitest";
import type { GatewayConfig } from "../../config/src/load-config.ts";
import type { Database } from "../../store/src/open-database.ts";
import type { EmbeddedEnv } from "../embedded-stack.ts";
import { startBanner, type BannerStack } from "../start-banner.ts";

function stack(overrides: {
  url?: string;
  publicUrl?: string;
  issuer?: BannerStack["issuer"];
  nodeEnv?: EmbeddedEnv["NODE_ENV"];
  issuerPort?: number;
}): BannerStack {
  const url = overrides.url ?? "http://127.0.0.1:9123";
  return {
    url,
    publicUrl: overrides.publicUrl ?? url,
    issuer: overrides.issuer,
    extAuthzAddress: "127.0.0.1:40001",
    config: { tools: { scopes: { calculator: {}, git: {} } } } as unknown as GatewayConfig,
    database: { dialect: "pglite" } as unknown as Database,
    env: {
      NODE_ENV: overrides.nodeEnv ?? "development",
      JWT_ISSUER_PORT: overrides.issuerPort ?? 8010,
    } as EmbeddedEnv,
  };
}

const HS256 = {
  url: "http://127.0.0.1:8010",
  issuer: "http://localhost:8010",
  algorithm: "HS256",
} as const;

describe("npm start banner", () => {
  it("names the listener in every gateway URL, and the issuer with its token command", () => {
    const text = startBanner(stack({ issuer: HS256 }), undefined, {});
    expect(text).toContain("listening on http://127.0.0.1:9123\n");
    expect(text).toContain(
      "  http://127.0.0.1:9123/calculator/sse   (alias http://127.0.0.1:9123/calculator/mcp)\n",
    );
    expect(text).toContain("  http://127.0.0.1:9123/git/sse");
    expect(text).toContain(
      "http://127.0.0.1:9123/mcp/invoke   REST invoke · http://127.0.0.1:9123/docs",
    );
    expect(text).not.toContain("public URL");
    expect(text).not.toContain("localhost:8000");
    expect(text).toContain("Development token issuer (HS256) on http://localhost:8010\n");
    expect(text).toContain("  TOKEN=$(npm run -s token -- --user demo --roles developer)\n");
    expect(text).toContain("  curl -s http://localhost:8010/token ");
    expect(text).toContain("npx mcp-remote http://127.0.0.1:9123/calculator/mcp\n");
    expect(text).not.toContain("environment:");
  });

  it("lets GATEWAY_PUBLIC_URL win for the advertised URLs, still naming the listener", () => {
    const text = startBanner(
      stack({ publicUrl: "https://mcp.example.com", issuer: HS256 }),
      { file: "/srv/gateway/.env", applied: ["PORT", "LOG_LEVEL"] },
      {},
    );
    expect(text).toContain("listening on http://127.0.0.1:9123\n");
    expect(text).toContain("  public URL https://mcp.example.com (GATEWAY_PUBLIC_URL)\n");
    expect(text).toContain("  https://mcp.example.com/calculator/sse");
    expect(text).not.toContain("http://127.0.0.1:9123/calculator");
    expect(text).toContain("environment: /srv/gateway/.env set 2 variable(s)");
  });

  it("offers only the issuer when `npm run token` could not name it or sign for it", () => {
    const ephemeral = startBanner(
      stack({ issuer: { ...HS256, issuer: "http://localhost:41234" }, issuerPort: 0 }),
      undefined,
      {},
    );
    expect(ephemeral).not.toContain("npm run -s token");
    expect(ephemeral).toContain("curl -s http://localhost:41234/token ");
    // An explicit JWT_ISSUER is what both use.
    expect(
      startBanner(stack({ issuer: HS256, issuerPort: 0 }), undefined, {
        JWT_ISSUER: "http://localhost:8010",
      }),
    ).toContain("npm run -s token");
    const keyPair = startBanner(stack({ issuer: { ...HS256, algorithm: "ES256" } }), undefined, {});
    expect(keyPair).not.toContain("npm run -s token");
    expect(keyPair).toContain("Development token issuer (ES256)");
  });

  it("mentions no issuer and no token command in production", () => {
    const text = startBanner(stack({ nodeEnv: "production" }), undefined, {});
    expect(text).not.toContain("issuer");
    expect(text).not.toContain("token");
  });

  it("keeps the token command when no issuer runs (NODE_ENV=test)", () => {
    const text = startBanner(stack({ nodeEnv: "test" }), undefined, {});
    expect(text).not.toContain("Development token issuer");
    expect(text).toContain("npm run -s token");
  });
});
