/**
 * A bare grpc-js unary server, the baseline for ext-authz's Check: it reads the request bytes
 * without decoding them and answers a fixed reply of `response-bytes` bytes, so a call carries the
 * same messages as a Check and costs only what grpc-js and HTTP/2 cost. Run as its own process by
 * bench/targets.ts, like ext-authz:
 *
 *   node --import tsx bench/grpc-echo-server.ts <port> <response-bytes>
 */
import { pathToFileURL } from "node:url";
import * as grpc from "@grpc/grpc-js";

export const ECHO_PATH = "/bench.Echo/Unary";

const identity = (bytes: Buffer): Buffer => bytes;

async function main(): Promise<void> {
  const [portText, sizeText] = process.argv.slice(2);
  const port = Number(portText);
  const size = Number(sizeText);
  if (!Number.isInteger(port) || port <= 0 || !Number.isInteger(size) || size < 0) {
    process.stderr.write("usage: grpc-echo-server.ts <port> <response-bytes>\n");
    process.exit(2);
  }
  const reply = Buffer.alloc(size, 0x61);
  const server = new grpc.Server();
  server.addService(
    {
      Unary: {
        path: ECHO_PATH,
        requestStream: false,
        responseStream: false,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    },
    {
      Unary(_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
        callback(null, reply);
      },
    },
  );
  await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `127.0.0.1:${port}`,
      grpc.ServerCredentials.createInsecure(),
      (error, bound) => (error ? reject(error) : resolve(bound)),
    ),
  );
  process.once("SIGTERM", () => server.tryShutdown(() => process.exit(0)));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
