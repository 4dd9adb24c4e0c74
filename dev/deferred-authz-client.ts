import type { AuthzClient } from "../contract/src/authz-wire.ts";

/**
 * An ext_authz client whose target is set later. The embedded stack starts the router before
 * ext-authz: ext-authz's RFC 9728 metadata names the gateway's public URL, which with PORT=0 is
 * known only once the router listens. Calls made in between wait for the real client.
 */
export type DeferredAuthzClient = {
  client: AuthzClient;
  bind(target: AuthzClient): void;
  /** ext-authz did not start: waiting and later calls fail (the router fails closed). */
  fail(error: Error): void;
};

export function createDeferredAuthzClient(): DeferredAuthzClient {
  let settle!: { bind: (target: AuthzClient) => void; fail: (error: Error) => void };
  const target = new Promise<AuthzClient>((resolve, reject) => {
    settle = { bind: resolve, fail: reject };
  });
  // Nobody may be waiting when it fails; the rejection is still seen by every later call.
  target.catch(() => undefined);
  let bound: AuthzClient | undefined;
  return {
    client: {
      check: async (request, options) => (bound ?? (await target)).check(request, options),
      health: async (service, options) => (bound ?? (await target)).health(service, options),
      close: () => bound?.close(),
    },
    bind(client) {
      bound = client;
      settle.bind(client);
    },
    fail: (error) => settle.fail(error),
  };
}
