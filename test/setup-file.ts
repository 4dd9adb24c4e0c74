import { afterAll } from "vitest";
import { runFileEndCleanups } from "../store/test/file-end.ts";

// Registered before the file's own hooks, so it runs after them (after-hooks run in reverse).
afterAll(runFileEndCleanups);
