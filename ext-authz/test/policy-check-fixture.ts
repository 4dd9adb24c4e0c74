/** A policy with every kind of rule the policy commands report on, over fixture-config's tools. */
import { parseConfigText, type GatewayConfig } from "../../config/src/load-config.ts";
import { TOOLS_YAML } from "./fixture-config.ts";

export { TOOLS_YAML };

export const CHECK_POLICY_YAML = `
version: 1
condition_headers: [user-agent]
roles:
  developer:
    allow: ["calculator.*", "git.*", "docs.*"]
  auditor:
    allow: [git.git_log, git.git_read_file, calculator.exact_calculate]
    deny:
      - calculator.exact_calculate
      - tools: git.git_read_file
        when: 'has(arguments.path) && arguments.path.startsWith(".env")'
  tenant_only:
    allow:
      - tools: calculator.*
        when: 'has(claims.tenant) && claims.tenant == "acme"'
  broken:
    allow:
      - tools: calculator.statistics
        when: "arguments.count > 1.0"
  watched:
    allow: ["docs.*", calculator.statistics]
    deny:
      - tools: docs.generate_document
        mode: dry_run
deny:
  - tools: calculator.statistics
    when: '"user-agent" in request.headers && request.headers["user-agent"] == "bad-bot"'
quotas:
  per_user: { default: { points: 10, duration: 1m } }
  per_tool: { default: { points: 10, duration: 1m } }
  per_user_tool: { default: { points: 10, duration: 1m } }
protected_resource:
  resource_base_url: https://gw.example
  authorization_servers: ["https://issuer.example"]
`;

export function configFrom(policyYaml: string, toolsYaml = TOOLS_YAML): GatewayConfig {
  const result = parseConfigText({ toolsYaml, policyYaml, env: {} });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return result.config;
}

export function checkConfig(): GatewayConfig {
  return configFrom(CHECK_POLICY_YAML);
}
