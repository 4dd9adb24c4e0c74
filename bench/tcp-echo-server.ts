/**
 * A loopback TCP server that writes back every chunk it reads: the other end of hop-cost.ts's
 * round trips, in its own process so each round trip wakes a second process as a gateway hop does.
 *
 *   node --import tsx bench/tcp-echo-server.ts <port>
 */
import { createServer } from "node:net";

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65_535) {
  process.stderr.write("usage: tcp-echo-server.ts <port>\n");
  process.exit(2);
}
const server = createServer((socket) => {
  socket.setNoDelay(true);
  socket.on("data", (chunk) => socket.write(chunk));
  socket.on("error", () => socket.destroy());
});
server.listen(port, "127.0.0.1");
process.on("SIGTERM", () => server.close(() => process.exit(0)));
