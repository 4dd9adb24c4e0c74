import { fail, succeed, type ToolOutcome } from "./tool-result.ts";

const MAX_PATH_LENGTH = 4096;

/**
 * Normalises a path inside the repository tree. Paths are relative to the repository root,
 * never absolute, never step out with "..", and carry no NUL or other control characters.
 * "" and "." mean the root and come back as "". Content is always read from git objects, never
 * from the work tree, so a symlink in the tree is reported as a link and never followed.
 */
export function checkRepositoryPath(path: string): ToolOutcome<string> {
  if (path.length > MAX_PATH_LENGTH) {
    return fail("invalid_path", `path is longer than ${MAX_PATH_LENGTH} characters`);
  }
  if (/\p{Cc}/u.test(path)) return fail("invalid_path", "path contains a control character");
  if (path.startsWith("/") || path.startsWith("\\") || /^[A-Za-z]:[\\/]/.test(path)) {
    return fail("invalid_path", "path must be relative to the repository root");
  }
  if (path === "" || path === "." || path === "./") return succeed("");
  const trimmed = path.endsWith("/") ? path.slice(0, -1) : path;
  const segments = trimmed.split("/");
  for (const segment of segments) {
    if (segment === "..") return fail("invalid_path", "path must not contain '..'");
    if (segment === "." || segment === "") {
      return fail("invalid_path", "path must not contain empty or '.' segments");
    }
  }
  return succeed(trimmed);
}

export function checkRepositoryPaths(paths: readonly string[]): ToolOutcome<string[]> {
  const out: string[] = [];
  for (const path of paths) {
    const checked = checkRepositoryPath(path);
    if (!checked.ok) return checked;
    if (checked.value !== "") out.push(checked.value);
  }
  return succeed(out);
}
