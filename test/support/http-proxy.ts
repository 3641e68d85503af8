import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { connect } from "node:net";

/**
 * A forward HTTP proxy for tests (absolute-form requests and CONNECT), recording every request
 * that goes through it. Optionally requires Basic proxy credentials (407 otherwise).
 */

export interface ProxiedRequest {
  method: string;
  /** Absolute URL (or `host:port` for CONNECT). */
  target: string;
  userAgent: string | undefined;
  /** Decoded `user:password` of Proxy-Authorization, if any. */
  credentials: string | undefined;
  status: number;
}

export interface TestProxy {
  readonly port: number;
  /** `http://<host>:<port>` as seen from this machine. */
  readonly url: string;
  readonly requests: ProxiedRequest[];
  close(): Promise<void>;
}

function credentialsOf(header: string | undefined): string | undefined {
  const match = /^Basic\s+(.+)$/i.exec(header ?? "");
  return match?.[1] === undefined ? undefined : Buffer.from(match[1], "base64").toString("utf8");
}

export async function startTestProxy(options: { host?: string; requireCredentials?: string } = {}): Promise<TestProxy> {
  const requests: ProxiedRequest[] = [];
  const authorized = (header: string | undefined): boolean => options.requireCredentials === undefined || credentialsOf(header) === options.requireCredentials;

  const server: Server = createServer((req, res) => {
    const entry: ProxiedRequest = {
      method: req.method ?? "GET",
      target: req.url ?? "",
      userAgent: req.headers["user-agent"],
      credentials: credentialsOf(req.headers["proxy-authorization"]),
      status: 0,
    };
    requests.push(entry);
    if (!authorized(req.headers["proxy-authorization"])) {
      entry.status = 407;
      res.writeHead(407, { "Proxy-Authenticate": 'Basic realm="test-proxy"' });
      res.end();
      return;
    }
    let target: URL;
    try {
      target = new URL(req.url ?? "");
    } catch {
      entry.status = 400;
      res.writeHead(400);
      res.end("absolute-form request expected");
      return;
    }
    const headers = { ...req.headers };
    delete headers["proxy-authorization"];
    delete headers["proxy-connection"];
    const upstream = httpRequest(
      { host: target.hostname, port: target.port || 80, method: req.method, path: `${target.pathname}${target.search}`, headers },
      (answer) => {
        entry.status = answer.statusCode ?? 502;
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => {
      entry.status = 502;
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  server.on("connect", (req, socket, head) => {
    const entry: ProxiedRequest = { method: "CONNECT", target: req.url ?? "", userAgent: req.headers["user-agent"], credentials: credentialsOf(req.headers["proxy-authorization"]), status: 0 };
    requests.push(entry);
    if (!authorized(req.headers["proxy-authorization"])) {
      entry.status = 407;
      socket.end("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test-proxy\"\r\n\r\n");
      return;
    }
    const [host = "", port = "443"] = (req.url ?? "").split(":");
    const upstream = connect(Number(port), host, () => {
      entry.status = 200;
      socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on("error", () => socket.destroy());
    socket.on("error", () => upstream.destroy());
  });
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
