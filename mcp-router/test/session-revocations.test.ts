import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../store/src/open-database.ts";
import { serviceDatabase } from "../../store/test/test-databases.ts";
import { createDatabaseRevocations, type DatabaseRevocations } from "../src/session-revocations.ts";

describe("session revocations shared through the database", () => {
  let database: Database;
  const opened: DatabaseRevocations[] = [];
  let time = 0;
  const replica = async () => {
    const revocations = createDatabaseRevocations(database.db, {
      pollMs: 1000,
      clock: () => time,
    });
    opened.push(revocations);
    await revocations.refresh();
    return revocations;
  };

  beforeAll(async () => {
    database = await serviceDatabase();
  });
  afterAll(async () => {
    for (const revocations of opened) revocations.close();
    await database.close();
  });

  it("holds at once where the session was ended and on the others from their next fetch", async () => {
    const a = await replica();
    const b = await replica();
    await a.revoke("sid-1", Date.now() + 60_000);
    expect(await a.isRevoked("sid-1")).toBe(true);
    expect(await b.isRevoked("sid-1")).toBe(false);
    await b.refresh();
    expect(await b.isRevoked("sid-1")).toBe(true);
    expect(await b.isRevoked("sid-2")).toBe(false);
  });

  it("a replica that started later knows every unexpired revocation", async () => {
    const a = await replica();
    await a.revoke("sid-3", Date.now() + 60_000);
    await a.revoke("sid-expired", Date.now() - 1);
    const late = await replica();
    expect(await late.isRevoked("sid-3")).toBe(true);
    expect(await late.isRevoked("sid-expired")).toBe(false);
  });

  it("asks the database per request once its memory is older than three intervals", async () => {
    const a = await replica();
    const b = await replica();
    await a.revoke("sid-4", Date.now() + 60_000);
    time += 2_999;
    expect(await b.isRevoked("sid-4")).toBe(false);
    time += 2;
    expect(await b.isRevoked("sid-4")).toBe(true);
  });
});
