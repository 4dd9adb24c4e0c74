// Container healthcheck for the gateway's Node services: exits 0 when healthy, 1 otherwise.
//   node docker/healthcheck.mjs http://127.0.0.1:8080/ready   (2xx = healthy)
//   node docker/healthcheck.mjs grpc://127.0.0.1:9191          (grpc.health.v1 SERVING = healthy)
// The target comes from the first argument or HEALTHCHECK_TARGET. Images have no curl, and a
// gRPC server is only healthy when it says so over gRPC, not when a TCP port accepts.

/* global AbortSignal */
import grpc from "@grpc/grpc-js";

const TIMEOUT_MS = Number(process.env.HEALTHCHECK_TIMEOUT_MS ?? "2000");
const SERVING = 1;

function fail(message) {
  process.stderr.write(`healthcheck: ${message}\n`);
  process.exit(1);
}

// grpc.health.v1.HealthCheckRequest { string service = 1; }
function encodeRequest(service) {
  const bytes = Buffer.from(service, "utf8");
  if (bytes.length === 0) return Buffer.alloc(0);
  if (bytes.length > 127) throw new Error("service name too long");
  return Buffer.concat([Buffer.from([0x0a, bytes.length]), bytes]);
}

// grpc.health.v1.HealthCheckResponse { ServingStatus status = 1; } — other fields are skipped.
function decodeStatus(buffer) {
  let offset = 0;
  let status = 0;
  const varint = () => {
    let value = 0;
    let shift = 0;
    for (;;) {
      if (offset >= buffer.length) throw new Error("truncated varint");
      const byte = buffer[offset++];
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return value;
      shift += 7;
      if (shift > 63) throw new Error("varint too long");
    }
  };
  while (offset < buffer.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) {
      const value = varint();
      if (field === 1) status = value;
    } else if (wire === 2) {
      offset += varint();
    } else if (wire === 1) {
      offset += 8;
    } else if (wire === 5) {
      offset += 4;
    } else {
      throw new Error(`unsupported wire type ${wire}`);
    }
  }
  return status;
}

async function checkHttp(url) {
  let response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (error) {
    fail(`${url.origin} unreachable: ${error instanceof Error ? error.message : String(error)}`);
  }
  await response.body?.cancel();
  if (response.status < 200 || response.status > 299)
    fail(`${url.pathname} answered HTTP ${response.status}`);
}

async function checkGrpc(url) {
  const service = decodeURIComponent(url.pathname.replace(/^\//, ""));
  const client = new grpc.Client(url.host, grpc.credentials.createInsecure());
  try {
    const status = await new Promise((resolve, reject) => {
      client.makeUnaryRequest(
        "/grpc.health.v1.Health/Check",
        (value) => value,
        (buffer) => decodeStatus(buffer),
        encodeRequest(service),
        new grpc.Metadata(),
        { deadline: Date.now() + TIMEOUT_MS },
        (error, value) => (error ? reject(error) : resolve(value)),
      );
    });
    if (status !== SERVING) fail(`gRPC health status is ${status}, not SERVING`);
  } catch (error) {
    fail(`gRPC health check failed: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    client.close();
  }
}

const target = process.argv[2] ?? process.env.HEALTHCHECK_TARGET;
if (!target) fail("no target: pass a URL or set HEALTHCHECK_TARGET");
let url;
try {
  url = new URL(target);
} catch {
  fail("target is not a URL");
}
if (url.protocol === "http:" || url.protocol === "https:") await checkHttp(url);
else if (url.protocol === "grpc:") await checkGrpc(url);
else fail(`unsupported target scheme ${url.protocol}`);
process.exit(0);
