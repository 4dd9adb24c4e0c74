import { access, chmod, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { startChild, type Child } from "./child-processes.ts";
import { freePort } from "./free-port.ts";

/**
 * nginx (the Debian package) as a plain reverse proxy in front of one backend: the baseline of
 * what a mature proxy hop costs on this machine. One worker process, like each gateway service
 * (one Node event loop), a keep-alive upstream pool, no access log.
 */

const NGINX = "/usr/sbin/nginx";

export type NginxProxy = Child & { address: string };

/** undefined when nginx is not installed. */
export async function startNginxProxy(
  dir: string,
  backend: string,
): Promise<NginxProxy | undefined> {
  const installed = await access(NGINX).then(
    () => true,
    () => false,
  );
  if (!installed) return undefined;
  const prefix = path.join(dir, "nginx");
  await mkdir(prefix, { recursive: true });
  // Run as root, nginx's worker switches to an unprivileged user that must reach the prefix.
  await chmod(dir, 0o755);
  await chmod(prefix, 0o777);
  const port = await freePort();
  const backendHost = new URL(backend).host;
  const temp = (name: string) => `${name}_temp_path ${path.join(prefix, name)};`;
  await writeFile(
    path.join(prefix, "nginx.conf"),
    `daemon off;
worker_processes 1;
pid ${path.join(prefix, "nginx.pid")};
error_log ${path.join(prefix, "error.log")} warn;
events { worker_connections 1024; }
http {
  access_log off;
  ${temp("client_body")}
  ${temp("proxy")}
  ${temp("fastcgi")}
  ${temp("uwsgi")}
  ${temp("scgi")}
  upstream backend {
    server ${backendHost};
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`,
  );
  const child = startChild(
    "nginx",
    NGINX,
    ["-p", prefix, "-c", path.join(prefix, "nginx.conf"), "-e", path.join(prefix, "error.log")],
    { env: {} },
  );
  const address = `http://127.0.0.1:${port}`;
  const until = Date.now() + 10_000;
  for (;;) {
    if (child.exitedEarly()) throw new Error("nginx exited during start-up");
    const up = await fetch(`${address}/health`).then(
      (response) => response.status === 200,
      () => false,
    );
    if (up) return { ...child, address };
    if (Date.now() > until) throw new Error("nginx did not come up");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
