import * as grpc from "@grpc/grpc-js";
import { startBenchScript, type Child } from "./child-processes.ts";
import { freePort } from "./free-port.ts";
import { ECHO_PATH } from "./grpc-echo-server.ts";
import { percentile } from "./http-load.ts";

/**
 * Unary gRPC calls with pre-encoded request bytes, a fixed number in flight, on one channel. The
 * client does the same work whichever server answers, so two servers compare on their own cost.
 */

export type UnaryResult = {
  completed: number;
  errors: number;
  seconds: number;
  rate: number;
  p50: number;
  p99: number;
};

const identity = (bytes: Buffer): Buffer => bytes;

export function unaryClient(address: string): grpc.Client {
  return new grpc.Client(address, grpc.credentials.createInsecure());
}

export function callUnary(client: grpc.Client, method: string, request: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      method,
      identity,
      identity,
      request,
      new grpc.Metadata(),
      { deadline: Date.now() + 10_000 },
      (error, response) =>
        response === undefined ? reject(error ?? new Error("no response")) : resolve(response),
    );
  });
}

export async function unaryLoad(
  client: grpc.Client,
  method: string,
  request: Buffer,
  options: { inFlight: number; durationS: number },
): Promise<UnaryResult> {
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const deadline = started + options.durationS * 1000;
  const worker = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        await callUnary(client, method, request);
        latencies.push(performance.now() - t0);
      } catch {
        errors += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: options.inFlight }, worker));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    completed: latencies.length,
    errors,
    seconds,
    rate: latencies.length / seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
  };
}

/** The bare echo server (grpc-echo-server.ts) in its own process, answering `responseBytes`. */
export async function startEchoServer(
  responseBytes: number,
): Promise<Child & { address: string; method: string }> {
  const port = await freePort();
  const child = startBenchScript("grpc echo", "grpc-echo-server.ts", [
    String(port),
    String(responseBytes),
  ]);
  const address = `127.0.0.1:${port}`;
  const client = unaryClient(address);
  try {
    const until = Date.now() + 20_000;
    for (;;) {
      if (child.exitedEarly()) throw new Error("grpc echo server exited during start-up");
      try {
        await callUnary(client, ECHO_PATH, Buffer.alloc(1));
        return { ...child, address, method: ECHO_PATH };
      } catch {
        if (Date.now() > until) throw new Error("grpc echo server did not come up");
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  } finally {
    client.close();
  }
}
