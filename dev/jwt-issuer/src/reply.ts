import type http from "node:http";

/** An answer of the issuer: JSON (`body`), an HTML page (`html`) or a bare status (redirects). */
export type Reply = {
  status: number;
  body?: unknown;
  html?: string;
  headers?: Record<string, string>;
};

/** OAuth's error shape (RFC 6749 §5.2), used for every JSON error. */
export function errorReply(status: number, error: string, description: string): Reply {
  return { status, body: { error, error_description: description } };
}

export function methodNotAllowed(allow: string): Reply {
  return { ...errorReply(405, "method_not_allowed", `use ${allow}`), headers: { allow } };
}

export function send(res: http.ServerResponse, reply: Reply): void {
  const [contentType, payload] =
    reply.html !== undefined
      ? ["text/html; charset=utf-8", reply.html]
      : reply.body !== undefined
        ? ["application/json", JSON.stringify(reply.body)]
        : [undefined, ""];
  res.writeHead(reply.status, {
    ...(contentType === undefined ? {} : { "content-type": contentType }),
    "cache-control": "no-store",
    "content-length": Buffer.byteLength(payload),
    ...reply.headers,
  });
  res.end(payload);
}

export type BodyResult = { ok: true; text: string } | { ok: false; reply: Reply };

export async function readBody(req: http.IncomingMessage, maxBytes: number): Promise<BodyResult> {
  const tooLarge: BodyResult = {
    ok: false,
    reply: errorReply(413, "invalid_request", "request body is too large"),
  };
  const declared = Number(req.headers["content-length"] ?? "0");
  if (Number.isFinite(declared) && declared > maxBytes) return tooLarge;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > maxBytes) return tooLarge;
    chunks.push(buffer);
  }
  return { ok: true, text: Buffer.concat(chunks).toString("utf8") };
}

/** The media type of a request, lower-cased, without parameters. */
export function mediaType(req: http.IncomingMessage): string {
  return (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}
