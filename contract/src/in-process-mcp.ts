/**
 * The router and a tool server in the same process (the embedded stack) exchange a POST /mcp
 * without HTTP: the router hands over the request it would have sent, the tool server answers as
 * its HTTP endpoint would. X-Gateway-Auth is checked all the same: the contract between them does
 * not depend on the transport.
 */

export type InProcessRequest = {
  /** The headers the router would send over HTTP, X-Gateway-Auth among them. */
  headers: Readonly<Record<string, string>>;
  /** The exact body X-Gateway-Auth was computed over. */
  body: string;
  /** Aborted when the caller stops waiting (its timeout, its client gone). */
  signal: AbortSignal;
};

/** The answer, as an HTTP response would carry it. */
export type InProcessReply = {
  status: number;
  headers: Readonly<Record<string, string>>;
  /** "" for a 202 without a body. */
  body: string;
};

/** A tool server's side: "cancelled" once the request's signal aborted the call. */
export type InProcessHandler = (request: InProcessRequest) => Promise<InProcessReply | "cancelled">;
