import { z } from "zod";
import { succeed, type ToolOutcome } from "../tool-result.ts";
import type { GitToolContext } from "../tool-context.ts";

export const ListRepositoriesArgsSchema = z.strictObject({});
export type ListRepositoriesArgs = z.infer<typeof ListRepositoriesArgsSchema>;

export const ListRepositoriesOutputSchema = z.object({
  repositories: z.array(
    z.object({
      name: z.string(),
      bare: z.boolean(),
      head_ref: z.string().nullable().describe("Branch HEAD points to; null when detached"),
      head_sha: z.string().nullable().describe("null for a repository without commits"),
    }),
  ),
});
export type ListRepositoriesOutput = z.infer<typeof ListRepositoriesOutputSchema>;

/** Lists the allowlisted repositories by name; server paths are never disclosed. */
export async function gitListRepositories(
  context: GitToolContext,
  _args: ListRepositoriesArgs,
): Promise<ToolOutcome<ListRepositoriesOutput>> {
  const repositories = await Promise.all(
    context.repositories.list().map(async (repo) => {
      const [ref, sha] = await Promise.all([
        context.runner.run({
          gitDir: repo.gitDir,
          subcommand: "rev-parse",
          args: ["--symbolic-full-name", "HEAD"],
          signal: context.signal,
        }),
        context.runner.run({
          gitDir: repo.gitDir,
          subcommand: "rev-parse",
          args: ["--verify", "--quiet", "HEAD^{commit}"],
          signal: context.signal,
        }),
      ]);
      const refText = ref.ok ? ref.stdout.toString("utf8").trim() : "";
      const shaText = sha.ok ? sha.stdout.toString("utf8").trim() : "";
      return {
        name: repo.name,
        bare: repo.bare,
        head_ref: refText.startsWith("refs/") ? refText : null,
        head_sha: /^[0-9a-f]{40,64}$/.test(shaText) ? shaText : null,
      };
    }),
  );
  return succeed({ repositories });
}
