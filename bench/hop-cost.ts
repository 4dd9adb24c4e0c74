import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { startBenchScript } from "./child-processes.ts";
import { freePort } from "./free-port.ts";
import { percentile } from "./http-load.ts";
import { schedCpuMs } from "./proc-stats.ts";

/**
 * What one hop between two processes costs on this machine: a 64-byte round trip over loopback
 * TCP to an echo server in its own process (tcp-echo-server.ts). Measured twice: round trips
 * `spreadMs` apart, so the server sleeps between them and each one wakes it, as a gateway call at a
 * modest rate wakes every process it passes through; and back to back with `inFlight` sockets
 * busy, so the server stays awake. The first figure is the unit a spread-out gateway call pays
 * about once per process hop; machines differ in it far more than in the second.
 */
export type HopCost = {
  /** The echo server's CPU per round trip, in µs. */
  spreadServerUs: number;
  busyServerUs: number;
  /** Round-trip latency of the spread-out round trips, p50, in µs. */
  spreadP50Us: number;
};

const MESSAGE = Buffer.alloc(64, 0x61);
/** The default pause between spread-out round trips. */
export const HOP_SPREAD_MS = 4;

export async function measureHopCost(
  options: { spreadCount?: number; spreadMs?: number; busyCount?: number; inFlight?: number } = {},
): Promise<HopCost> {
  const spreadCount = options.spreadCount ?? 400;
  const spreadMs = options.spreadMs ?? HOP_SPREAD_MS;
  const busyCount = options.busyCount ?? 20_000;
  const inFlight = options.inFlight ?? 16;
  const port = await freePort();
  const server = startBenchScript("tcp echo", "tcp-echo-server.ts", [String(port)]);
  const sockets: Socket[] = [];
  try {
    for (let i = 0; i < inFlight; i += 1)
      sockets.push(await connected(port, () => server.exitedEarly()));
    const roundTrip = roundTripper(sockets[0]!);
    for (let i = 0; i < 200; i += 1) await roundTrip();

    const latencies: number[] = [];
    const spreadBefore = await schedCpuMs(server.pid);
    for (let i = 0; i < spreadCount; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, spreadMs));
      const started = performance.now();
      await roundTrip();
      latencies.push(performance.now() - started);
    }
    const spreadServerMs = (await schedCpuMs(server.pid)) - spreadBefore;

    const perSocket = Math.ceil(busyCount / inFlight);
    const busyBefore = await schedCpuMs(server.pid);
    await Promise.all(
      sockets.map(async (socket) => {
        const trip = roundTripper(socket);
        for (let i = 0; i < perSocket; i += 1) await trip();
      }),
    );
    const busyServerMs = (await schedCpuMs(server.pid)) - busyBefore;

    latencies.sort((a, b) => a - b);
    return {
      spreadServerUs: (spreadServerMs * 1000) / spreadCount,
      busyServerUs: (busyServerMs * 1000) / (perSocket * inFlight),
      spreadP50Us: percentile(latencies, 0.5) * 1000,
    };
  } finally {
    for (const socket of sockets) socket.destroy();
    await server.stop();
  }
}

/** Connects, retrying while the server starts (at most 20 s). */
async function connected(port: number, exitedEarly: () => boolean): Promise<Socket> {
  const until = Date.now() + 20_000;
  for (;;) {
    if (exitedEarly()) throw new Error("tcp echo server exited during start-up");
    const socket = connect({ host: "127.0.0.1", port, noDelay: true });
    try {
      await once(socket, "connect");
      return socket;
    } catch (error) {
      socket.destroy();
      if (Date.now() > until) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** One message out and the same number of bytes back, one round trip at a time per socket. */
function roundTripper(socket: Socket): () => Promise<void> {
  return () =>
    new Promise((resolve, reject) => {
      let received = 0;
      const onData = (chunk: Buffer) => {
        received += chunk.length;
        if (received < MESSAGE.length) return;
        socket.off("data", onData).off("error", reject);
        resolve();
      };
      socket.on("data", onData).once("error", reject);
      socket.write(MESSAGE);
    });
}
