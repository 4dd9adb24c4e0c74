import { createLogger } from "../../../contract/src/log.ts";
import { logLevel } from "../../../config/src/env.ts";
import { parseIssuerEnv } from "./env.ts";
import { createIssuer } from "./issuer.ts";

const parsed = parseIssuerEnv(process.env);
if (!parsed.ok) {
  process.stderr.write(`jwt-issuer: invalid environment:\n  ${parsed.problems.join("\n  ")}\n`);
  process.exit(1);
}
const env = parsed.env;
const logger = createLogger({ name: "jwt-issuer", level: logLevel(env) });

const issuer = await createIssuer({
  issuer: env.JWT_ISSUER,
  audience: env.JWT_AUDIENCE,
  algorithm: env.ISSUER_ALGORITHM,
  secretKey: env.JWT_SECRET_KEY,
  adminToken: env.JWT_ISSUER_ADMIN_TOKEN,
  maxExpiresInSeconds: env.MAX_EXPIRES_IN_SECONDS,
  logger,
});
const address = await issuer.listen(env.PORT, env.HOST);
logger.info(
  {
    url: `http://${address.address}:${address.port}`,
    algorithm: env.ISSUER_ALGORITHM,
    issuer: env.JWT_ISSUER,
    audience: env.JWT_AUDIENCE,
    adminTokenRequired: env.JWT_ISSUER_ADMIN_TOKEN !== undefined,
  },
  "development JWT issuer listening (never expose it outside development)",
);

function shutdown(signal: string): void {
  logger.info({ signal }, "shutting down");
  issuer.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
}
process.once("SIGTERM", () => shutdown("SIGTERM"));
process.once("SIGINT", () => shutdown("SIGINT"));
