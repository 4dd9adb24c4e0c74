import { describe, expect, it, vi } from "vitest";

describe("openDatabase with DATABASE_URL", () => {
  it("never loads PGlite (its WASM build costs memory and startup time)", async () => {
    const loaded = { pglite: false };
    vi.resetModules();
    vi.doMock("@electric-sql/pglite", () => {
      loaded.pglite = true;
      return {};
    });
    try {
      const { openDatabase } = await import("../src/open-database.ts");
      // The pool connects lazily: no PostgreSQL server is needed to open and close it.
      const database = await openDatabase({ databaseUrl: "postgres://127.0.0.1:1/none" });
      expect(database.dialect).toBe("postgres");
      await database.close();
      expect(loaded.pglite).toBe(false);
    } finally {
      vi.doUnmock("@electric-sql/pglite");
      vi.resetModules();
    }
  });
});
