/**
 * What every service counts as a usable secret. Outside development a missing or weak secret
 * stops a service from starting; development gets recognisable defaults that production refuses.
 */

/** NODE_ENV values under which documented development defaults for secrets are accepted. */
export const DEVELOPMENT_NODE_ENVS: readonly string[] = ["development", "test"];

export function isDevelopmentNodeEnv(nodeEnv: string | undefined): boolean {
  return DEVELOPMENT_NODE_ENVS.includes(nodeEnv ?? "");
}

const DEV_SECRET_PREFIX = "dev-insecure-";

/**
 * The development default of a secret: deterministic so that every service of a local stack
 * derives the same value, and recognisable so that it is refused outside development.
 */
export function devSecretDefault(name: string): string {
  return `${DEV_SECRET_PREFIX}${name.toLowerCase().replaceAll("_", "-")}-do-not-use-in-production`;
}

const WEAK_SECRETS = new Set([
  "changeme",
  "change-me",
  "secret",
  "password",
  "your-secret-key",
  "your-256-bit-secret",
  "test",
  "dev",
  "development",
]);

/** Why a secret is too weak for production, or undefined when it is acceptable. */
export function secretWeakness(value: string, minLength = 32): string | undefined {
  if (value.length < minLength) return `too short: at least ${minLength} characters required`;
  if (value.startsWith(DEV_SECRET_PREFIX))
    return "a development default is not allowed outside development";
  if (WEAK_SECRETS.has(value.toLowerCase())) return "a well-known placeholder value";
  if (new Set(value).size < 8) return "too little variety of characters";
  return undefined;
}
