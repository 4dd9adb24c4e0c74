/**
 * Test runs only: a PGlite data directory dumped right after initdb, which test/global-setup.ts
 * writes once per run and names in this variable. A new in-memory database loads it (about a
 * second) and a new data directory unpacks it, instead of running initdb (about five seconds of
 * CPU) each time; anything wrong with the file means a plain initdb. Never set in production.
 */
export const PGLITE_TEMPLATE_ENV = "MCP_GATEWAY_TEST_PGLITE_TEMPLATE";
