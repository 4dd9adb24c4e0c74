import { describe, expect, it } from "vitest";
import type { AuthzClient, CheckRequest } from "../../contract/src/authz-wire.ts";
import { createDeferredAuthzClient } from "../deferred-authz-client.ts";

const REQUEST = { attributes: {} } as unknown as CheckRequest;

function fakeClient(log: string[]): AuthzClient {
  return {
    check: async () => {
      log.push("check");
      return { status: { code: 0 } };
    },
    health: async (service) => {
      log.push(`health:${service ?? ""}`);
      return { status: "SERVING" } as never;
    },
    close: () => log.push("close"),
  };
}

describe("deferred ext_authz client", () => {
  it("holds calls made before the target is bound, then forwards them and later ones", async () => {
    const log: string[] = [];
    const deferred = createDeferredAuthzClient();
    const early = deferred.client.check(REQUEST, { deadlineMs: 100 });
    const health = deferred.client.health("", { deadlineMs: 100 });
    expect(log).toEqual([]);
    deferred.bind(fakeClient(log));
    await expect(early).resolves.toEqual({ status: { code: 0 } });
    await expect(health).resolves.toEqual({ status: "SERVING" });
    await deferred.client.check(REQUEST, { deadlineMs: 100 });
    deferred.client.close();
    expect(log).toEqual(["check", "health:", "check", "close"]);
  });

  it("fails waiting and later calls when ext-authz did not start", async () => {
    const deferred = createDeferredAuthzClient();
    const early = deferred.client.check(REQUEST, { deadlineMs: 100 });
    deferred.fail(new Error("ext-authz did not start"));
    await expect(early).rejects.toThrow("ext-authz did not start");
    await expect(deferred.client.health()).rejects.toThrow("ext-authz did not start");
    expect(() => deferred.client.close()).not.toThrow();
  });
});
