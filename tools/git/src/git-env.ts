import { z } from "zod";
import { toolServerEnvSchema } from "../../kit/src/index.ts";
import { DEFAULT_LIMITS } from "./tool-context.ts";

function positiveInteger(name: string, max: number) {
  return z
    .string()
    .regex(/^\d+$/, `${name} must be a whole number`)
    .transform(Number)
    .pipe(z.number().int().min(1, `${name} must be at least 1`).max(max, `${name} is too large`));
}

export const GitToolEnvSchema = toolServerEnvSchema(8092).extend({
  /** `name=path,name2=path2` or a JSON object; unset: the repository the process runs in. */
  GIT_REPOSITORIES: z.string().optional(),
  GIT_TIMEOUT_MS: positiveInteger("GIT_TIMEOUT_MS", 600_000).default(10_000),
  GIT_MAX_OUTPUT_BYTES: positiveInteger("GIT_MAX_OUTPUT_BYTES", 256 * 1024 * 1024).default(
    DEFAULT_LIMITS.maxOutputBytes,
  ),
  GIT_MAX_FILE_BYTES: positiveInteger("GIT_MAX_FILE_BYTES", 64 * 1024 * 1024).default(
    DEFAULT_LIMITS.maxFileBytes,
  ),
});
export type GitToolEnv = z.infer<typeof GitToolEnvSchema>;

export function parseGitToolEnv(
  env: Record<string, string | undefined>,
): { ok: true; env: GitToolEnv } | { ok: false; message: string } {
  const parsed = GitToolEnvSchema.safeParse(env);
  if (parsed.success) return { ok: true, env: parsed.data };
  const message = parsed.error.issues
    .map((issue) => `${issue.path.map(String).join(".") || "env"}: ${issue.message}`)
    .join("; ");
  return { ok: false, message };
}
