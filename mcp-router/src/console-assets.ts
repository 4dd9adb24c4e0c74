import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { PACKAGE_ROOT } from "../../contract/src/package-root.ts";
import type { RouterRequest, RouterResponse } from "./http-types.ts";

/**
 * `GET /console`: the operators' console, static files built from console/ by `npm run build`
 * (console/build.ts, into dist/console: index.html and content-hashed assets/). No data is in
 * these files, so they are served without a token, like /docs; every number the page shows comes
 * from `/admin/*`, which is authorized like any request.
 *
 * The Content-Security-Policy allows scripts, styles and fetches from this origin only, no inline
 * script or style, no framing, no <base>, forms posting only here: a string from the audit log
 * that slipped past the page's escaping still could not run or leak anything.
 */

export const CONSOLE_PATH = "/console";

export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join("; ");

const SECURITY_HEADERS = {
  "content-security-policy": CONSOLE_CSP,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
} as const;

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
};

const ASSET_NAME_RE = /^[A-Za-z0-9_.-]{1,200}$/;

type Asset = { body: Buffer; contentType: string; etag: string };
type Bundle = { index: Asset; assets: ReadonlyMap<string, Asset> };

export type ConsoleAssets = {
  handle(request: RouterRequest): Promise<RouterResponse>;
};

function asset(body: Buffer, name: string): Asset {
  return {
    body,
    contentType: CONTENT_TYPES[path.extname(name)] ?? "application/octet-stream",
    etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`,
  };
}

async function loadBundle(dir: string): Promise<Bundle | undefined> {
  let index: Buffer;
  try {
    index = await readFile(path.join(dir, "index.html"));
  } catch {
    return undefined;
  }
  const assets = new Map<string, Asset>();
  const assetDir = path.join(dir, "assets");
  for (const name of await readdir(assetDir).catch(() => [] as string[])) {
    if (!ASSET_NAME_RE.test(name) || CONTENT_TYPES[path.extname(name)] === undefined) continue;
    assets.set(name, asset(await readFile(path.join(assetDir, name)), name));
  }
  return { index: asset(index, "index.html"), assets };
}

function notFound(): RouterResponse {
  return {
    status: 404,
    headers: { "content-type": "text/plain; charset=utf-8", ...SECURITY_HEADERS },
    body: "Not found\n",
  };
}

export function createConsoleAssets(options: { dir?: string } = {}): ConsoleAssets {
  const dir = options.dir ?? path.join(PACKAGE_ROOT, "dist", "console");
  // Read once: the files change only with a new build, which a restart serves.
  let bundle: Promise<Bundle | undefined> | undefined;
  const load = async (): Promise<Bundle | undefined> => {
    bundle ??= loadBundle(dir);
    const loaded = await bundle;
    // Not built yet: look again next time rather than serving "missing" until a restart.
    if (loaded === undefined) bundle = undefined;
    return loaded;
  };

  return {
    async handle(request) {
      if (request.method !== "GET" && request.method !== "HEAD") {
        return {
          status: 405,
          headers: { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" },
          body: "Method not allowed\n",
        };
      }
      const loaded = await load();
      if (loaded === undefined) {
        return {
          status: 503,
          headers: { "content-type": "text/plain; charset=utf-8", "retry-after": "5" },
          body: "The console is not built: run `npm run build` (npm start does).\n",
        };
      }
      let found: Asset | undefined;
      let immutable = false;
      if (request.path === CONSOLE_PATH || request.path === `${CONSOLE_PATH}/`) {
        found = loaded.index;
      } else if (request.path.startsWith(`${CONSOLE_PATH}/assets/`)) {
        found = loaded.assets.get(request.path.slice(`${CONSOLE_PATH}/assets/`.length));
        // Asset names carry a hash of their content: a new build has new names.
        immutable = true;
      }
      if (found === undefined) return notFound();
      const headers = {
        "content-type": found.contentType,
        etag: found.etag,
        "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache",
        ...SECURITY_HEADERS,
      };
      if (request.headers["if-none-match"] === found.etag) return { status: 304, headers };
      // Node sends the length and, for HEAD, no body.
      return { status: 200, headers, body: found.body };
    },
  };
}
