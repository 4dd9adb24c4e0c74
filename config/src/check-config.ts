import { loadConfig } from "./load-config.ts";

const result = await loadConfig({ env: process.env });
if (result.ok) {
  const { tools, policy } = result.config;
  const scopes = Object.values(tools.scopes);
  const toolCount = scopes.reduce((sum, scope) => sum + scope.tools.length, 0);
  const discovering = scopes.filter((scope) => scope.discover === true).length;
  console.log(
    `config OK: ${scopes.length} scopes, ${toolCount} tools${discovering > 0 ? ` (+ ${discovering} discovering)` : ""}, ${Object.keys(policy.roles).length} roles`,
  );
} else {
  for (const error of result.errors) console.error(error);
  process.exitCode = 1;
}
