import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  approveDefinition,
  getRegistryTool,
  listActiveTools,
  listPendingDefinitionChanges,
  listRegistryHistory,
  recordDiscoveredTools,
  recordObservedDefinition,
  syncRegistry,
  type RegistrySource,
} from "../src/registry.ts";
import { openDatabase, type Database } from "../src/open-database.ts";
import { backends, requirePostgresInCi } from "./test-databases.ts";

requirePostgresInCi();

const t0 = new Date("2026-11-25T10:00:00.000Z");
const t1 = new Date("2026-11-25T11:00:00.000Z");
const t2 = new Date("2026-11-25T12:00:00.000Z");

const tool = (
  name: string,
  extra: Partial<RegistrySource["scopes"][string]["tools"][number]> = {},
) => ({
  name,
  enabled: true,
  ...extra,
});

const full: RegistrySource = {
  scopes: {
    calculator: { tools: [tool("exact_calculate"), tool("statistics", { enabled: false })] },
    docs: { tools: [tool("generate_document", { task_support: "optional", timeout_ms: 120_000 })] },
  },
};
const withoutStatistics: RegistrySource = {
  scopes: { calculator: { tools: [tool("exact_calculate")] }, docs: full.scopes.docs! },
};

describe.each(backends)("tool registry on $name", (backend) => {
  let database: Database;
  beforeEach(async () => {
    database = await backend.open({ migrated: true });
  });
  afterEach(async () => {
    await database.close();
  });

  it("adds the configured tools", async () => {
    const result = await syncRegistry(database.db, full, t0);
    expect(result).toEqual({
      added: ["calculator.exact_calculate", "calculator.statistics", "docs.generate_document"],
      deactivated: [],
      reactivated: [],
      unchanged: [],
    });
    const rows = await listActiveTools(database.db);
    expect(rows.map((row) => `${row.scope}.${row.name}`)).toEqual(result.added);
    expect(await getRegistryTool(database.db, "docs", "generate_document")).toMatchObject({
      active: true,
      enabled: true,
      task_support: "optional",
      timeout_ms: 120_000,
      first_seen_at: t0,
      last_seen_at: t0,
      deactivated_at: null,
    });
    expect(
      (await listActiveTools(database.db, "calculator")).map((row) => [row.name, row.enabled]),
    ).toEqual([
      ["exact_calculate", true],
      ["statistics", false],
    ]);
    expect(
      (await listRegistryHistory(database.db)).map((row) => [row.scope, row.name, row.event]),
    ).toEqual([
      ["calculator", "exact_calculate", "added"],
      ["calculator", "statistics", "added"],
      ["docs", "generate_document", "added"],
    ]);
  });

  it("is idempotent", async () => {
    await syncRegistry(database.db, full, t0);
    const again = await syncRegistry(database.db, full, t1);
    expect(again).toEqual({
      added: [],
      deactivated: [],
      reactivated: [],
      unchanged: ["calculator.exact_calculate", "calculator.statistics", "docs.generate_document"],
    });
    expect(await listRegistryHistory(database.db)).toHaveLength(3);
    expect(await getRegistryTool(database.db, "calculator", "exact_calculate")).toMatchObject({
      first_seen_at: t0,
      last_seen_at: t1,
    });
  });

  it("marks a removed tool inactive, keeps its row and history, and re-activates it when listed again", async () => {
    await syncRegistry(database.db, full, t0);
    expect(await syncRegistry(database.db, withoutStatistics, t1)).toMatchObject({
      deactivated: ["calculator.statistics"],
      added: [],
    });
    expect((await listActiveTools(database.db, "calculator")).map((row) => row.name)).toEqual([
      "exact_calculate",
    ]);
    expect(await getRegistryTool(database.db, "calculator", "statistics")).toMatchObject({
      active: false,
      deactivated_at: t1,
      first_seen_at: t0,
    });
    // Removing again changes nothing.
    expect((await syncRegistry(database.db, withoutStatistics, t1)).deactivated).toEqual([]);

    expect(await syncRegistry(database.db, full, t2)).toMatchObject({
      reactivated: ["calculator.statistics"],
      added: [],
    });
    expect(await getRegistryTool(database.db, "calculator", "statistics")).toMatchObject({
      active: true,
      deactivated_at: null,
      first_seen_at: t0,
      last_seen_at: t2,
    });
    const history = await listRegistryHistory(database.db, {
      scope: "calculator",
      name: "statistics",
    });
    expect(history.map((row) => [row.event, row.at])).toEqual([
      ["added", t0],
      ["deactivated", t1],
      ["reactivated", t2],
    ]);
  });

  it("records a discovering scope's tools as discovered, and follows what its server lists", async () => {
    const discovering: RegistrySource = {
      scopes: { ...full.scopes, tickets: { discover: true, tools: [] } },
    };
    await syncRegistry(database.db, discovering, t0);
    const first = await recordDiscoveredTools(database.db, "tickets", ["search", "create"], t0);
    expect([...first].sort()).toEqual(["create", "search"]);
    expect(await getRegistryTool(database.db, "tickets", "search")).toMatchObject({
      source: "discovered",
      active: true,
      enabled: true,
      first_seen_at: t0,
    });
    expect((await getRegistryTool(database.db, "calculator", "exact_calculate"))?.source).toBe(
      "config",
    );

    // The same listing writes nothing; a restart's sync keeps the discovered tools.
    expect(
      [...(await recordDiscoveredTools(database.db, "tickets", ["create", "search"], t1))].sort(),
    ).toEqual(["create", "search"]);
    expect((await syncRegistry(database.db, discovering, t1)).deactivated).toEqual([]);

    // The server stops listing one, then lists it again.
    expect([...(await recordDiscoveredTools(database.db, "tickets", ["search"], t1))]).toEqual([
      "search",
    ]);
    expect(await getRegistryTool(database.db, "tickets", "create")).toMatchObject({
      active: false,
      deactivated_at: t1,
    });
    const again = await recordDiscoveredTools(database.db, "tickets", ["search", "create"], t2);
    expect([...again].sort()).toEqual(["create", "search"]);
    expect(
      (await listRegistryHistory(database.db, { scope: "tickets" })).map((row) => [
        row.name,
        row.event,
      ]),
    ).toEqual([
      ["create", "discovered"],
      ["search", "discovered"],
      ["create", "deactivated"],
      ["create", "reactivated"],
    ]);

    // No longer discovering: tools.yaml decides again, and lists none of them.
    expect((await syncRegistry(database.db, full, t2)).deactivated).toEqual([
      "tickets.create",
      "tickets.search",
    ]);
  });

  it("leaves a discovering scope's tools from tools.yaml to tools.yaml", async () => {
    await syncRegistry(database.db, full, t0);
    // A tool tools.yaml lists is not deactivated because the server's listing lacks it.
    const active = await recordDiscoveredTools(database.db, "calculator", ["exact_calculate"], t1);
    expect([...active].sort()).toEqual(["exact_calculate", "statistics"]);
    expect((await getRegistryTool(database.db, "calculator", "statistics"))?.active).toBe(true);
    expect((await getRegistryTool(database.db, "calculator", "exact_calculate"))?.source).toBe(
      "config",
    );
  });

  it("applies two concurrent syncs one after the other", async () => {
    const [a, b] = await Promise.all([
      syncRegistry(database.db, full, t0),
      syncRegistry(database.db, full, t0),
    ]);
    const added = [a, b].map((result) => result.added.length).sort();
    expect(added).toEqual([0, 3]);
    expect([a, b].map((result) => result.unchanged.length).sort()).toEqual([0, 3]);
    expect(await listActiveTools(database.db)).toHaveLength(3);
    expect(await listRegistryHistory(database.db)).toHaveLength(3);
  });

  it("records tool definitions: first seen, approved, changed once, then approved", async () => {
    await syncRegistry(database.db, full, t0);
    const check = (digest: string, at = t1) =>
      recordObservedDefinition(database.db, "calculator", "exact_calculate", digest, at);
    expect(await check("aaa")).toBe("first_seen");
    expect(await check("aaa")).toBe("approved");
    expect(await check("bbb", t1)).toBe("changed");
    expect(await check("bbb", t2)).toBe("changed");
    expect(await getRegistryTool(database.db, "calculator", "exact_calculate")).toMatchObject({
      approved_definition_digest: "aaa",
      observed_definition_digest: "bbb",
      definition_changed_at: t1,
    });
    expect(await recordObservedDefinition(database.db, "calculator", "nope", "x")).toBe("unknown");
    await recordObservedDefinition(database.db, "docs", "generate_document", "ccc");
    expect(await listPendingDefinitionChanges(database.db)).toEqual([
      {
        scope: "calculator",
        name: "exact_calculate",
        active: true,
        approved_definition_digest: "aaa",
        observed_definition_digest: "bbb",
        definition_changed_at: t1,
      },
    ]);

    expect(await approveDefinition(database.db, "calculator", "exact_calculate", t2)).toBe(true);
    expect(await listPendingDefinitionChanges(database.db)).toEqual([]);
    expect(await approveDefinition(database.db, "calculator", "exact_calculate", t2)).toBe(false);
    expect(await approveDefinition(database.db, "calculator", "nope")).toBe(false);
    expect(await check("bbb")).toBe("approved");
    const history = await listRegistryHistory(database.db, {
      scope: "calculator",
      name: "exact_calculate",
    });
    expect(history.map((row) => [row.event, row.details])).toEqual([
      ["added", null],
      ["definition_changed", { approved: "aaa", observed: "bbb" }],
      ["definition_approved", { previous: "aaa", approved: "bbb" }],
    ]);
  });
});

describe.runIf(backends.some((backend) => backend.name === "postgres"))(
  "tool registry across replicas",
  () => {
    it("two processes' pools syncing at the same moment add each tool once", async () => {
      const backend = backends.find((candidate) => candidate.name === "postgres")!;
      const first = await backend.open({ migrated: true });
      try {
        // A second pool on the same schema stands in for a second replica.
        const schema = await first.db
          .selectNoFrom((eb) => eb.fn<string>("current_schema").as("schema"))
          .executeTakeFirstOrThrow();
        const second = await openDatabase({
          databaseUrl: first.url,
          schema: schema.schema,
          poolMax: 2,
        });
        try {
          const results = await Promise.all([
            syncRegistry(first.db, full, t0),
            syncRegistry(second.db, full, t0),
            syncRegistry(first.db, full, t0),
            syncRegistry(second.db, full, t0),
          ]);
          expect(results.map((result) => result.added.length).sort()).toEqual([0, 0, 0, 3]);
          expect(await listRegistryHistory(first.db)).toHaveLength(3);
        } finally {
          await second.close();
        }
      } finally {
        await first.close();
      }
    });
  },
);
