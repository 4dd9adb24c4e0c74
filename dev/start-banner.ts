import type { EnvSource } from "../config/src/env.ts";
import type { loadDotEnv } from "./dot-env.ts";
import type { EmbeddedStack } from "./embedded-stack.ts";

export type BannerStack = Pick<
  EmbeddedStack,
  "url" | "publicUrl" | "issuer" | "extAuthzAddress" | "config" | "database" | "env"
>;

/**
 * What `npm start` prints: every URL names the real listeners, or GATEWAY_PUBLIC_URL / JWT_ISSUER
 * when they are set, since those are the names clients are sent to.
 */
export function startBanner(
  stack: BannerStack,
  dotEnv: ReturnType<typeof loadDotEnv>,
  env: EnvSource,
): string {
  const base = stack.publicUrl;
  const lines = [
    "",
    `MCP Gateway (embedded) listening on ${stack.url}`,
    ...(base === stack.url ? [] : [`  public URL ${base} (GATEWAY_PUBLIC_URL)`]),
    ...Object.keys(stack.config.tools.scopes).map(
      (scope) => `  ${base}/${scope}/sse   (alias ${base}/${scope}/mcp)`,
    ),
    `  ${base}/mcp/invoke   REST invoke · ${base}/docs   API reference`,
    `  ${base}/.well-known/oauth-protected-resource/{scope}/mcp   RFC 9728 metadata`,
    `  ext-authz gRPC on ${stack.extAuthzAddress} · database: ${stack.database.dialect}`,
  ];
  if (dotEnv !== undefined) {
    lines.push(
      `  environment: ${dotEnv.file} set ${dotEnv.applied.length} variable(s); the real environment wins`,
    );
  }
  const issuer = stack.issuer;
  if (issuer !== undefined) {
    lines.push(
      "",
      `Development token issuer (${issuer.algorithm}) on ${issuer.issuer}`,
      `  POST ${issuer.issuer}/token · ${issuer.issuer}/.well-known/jwks.json · ${issuer.issuer}/.well-known/oauth-authorization-server`,
      `  MCP clients sign in there by themselves, e.g. npx mcp-remote ${base}/${firstScope(stack)}/mcp`,
    );
  }
  if (stack.env.NODE_ENV !== "production") {
    lines.push("", "Mint a development token:");
    // `npm run token` signs with JWT_SECRET_KEY and names the issuer as the stack does unless its
    // port was 0; a key-pair issuer's tokens come only from the issuer itself.
    const derivable = stack.env.JWT_ISSUER_PORT !== 0 || Boolean(env.JWT_ISSUER);
    if (issuer === undefined || (issuer.algorithm === "HS256" && derivable)) {
      lines.push("  TOKEN=$(npm run -s token -- --user demo --roles developer)");
    }
    if (issuer !== undefined) {
      lines.push(
        `  curl -s ${issuer.issuer}/token -H 'content-type: application/json' -d '{"user_id":"demo","roles":["developer"]}'`,
      );
    }
  }
  return `${lines.join("\n")}\n\n`;
}

function firstScope(stack: BannerStack): string {
  return Object.keys(stack.config.tools.scopes)[0] ?? "calculator";
}
