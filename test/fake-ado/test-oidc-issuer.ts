// A stand-in for a Kubernetes API server as OIDC issuer of service-account tokens, for tests of the
// fake Entra ID: an https server with the API server's two anonymous-or-authenticated documents
// (`/.well-known/openid-configuration`, and the JWKS at the path its `jwks_uri` names), a real RSA
// key pair, and tokens signed with node:crypto.
import { generateKeyPairSync, randomUUID, sign, type KeyObject } from "node:crypto";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { TestTls } from "../support/test-tls.ts";

export interface TestIssuerRequest {
  method: string;
  path: string;
  /** Host header as received: the address the fake really connected to. */
  host: string;
  /** Whether the caller presented a client certificate the server accepted. */
  clientCertificate: boolean;
}

export interface TestIssuer {
  /** The `iss` of its tokens and the `issuer` of its discovery document. */
  readonly issuer: string;
  /** Where it really listens, e.g. `https://127.0.0.1:43121`. */
  readonly baseUrl: string;
  /** Every request, in order. */
  readonly requests: TestIssuerRequest[];
  /** Key id currently published. */
  readonly kid: string;
  /** An RS256 JWT with these claims, signed with the published key (or `privateKey`), header `kid` (or `kid`). */
  sign(claims: Record<string, unknown>, options?: { kid?: string; privateKey?: KeyObject; header?: Record<string, unknown> }): string;
  /** Publishes a new key (the old one is dropped) and returns its kid. */
  rotate(): string;
  close(): Promise<void>;
}

export interface TestIssuerOptions {
  issuer: string;
  /** `jwks_uri` as the discovery document names it (the API server names its own external address). */
  advertisedJwksUri: string;
  tls: TestTls;
  /** When set, only callers with a client certificate this CA signed get through the TLS handshake. */
  clientCa?: string;
}

export async function startTestIssuer(options: TestIssuerOptions): Promise<TestIssuer> {
  let key = generateKeyPairSync("rsa", { modulusLength: 2048 });
  let kid = randomUUID();
  const jwksPath = new URL(options.advertisedJwksUri).pathname;
  const requests: TestIssuerRequest[] = [];

  const server = createServer(
    {
      key: options.tls.key,
      cert: options.tls.cert,
      ...(options.clientCa !== undefined ? { requestCert: true, rejectUnauthorized: true, ca: options.clientCa } : {}),
    },
    (req, res) => {
      const path = req.url ?? "/";
      const socket = req.socket as { authorized?: boolean; getPeerCertificate?: () => { subject?: unknown } };
      const clientCertificate = socket.authorized === true && socket.getPeerCertificate?.().subject !== undefined;
      requests.push({ method: req.method ?? "GET", path, host: req.headers.host ?? "", clientCertificate });
      const json = (status: number, body: unknown): void => {
        res.writeHead(status, { "Content-Type": "application/json" });
        res.end(JSON.stringify(body));
      };
      if (req.method === "GET" && path === "/.well-known/openid-configuration") {
        return json(200, {
          issuer: options.issuer,
          jwks_uri: options.advertisedJwksUri,
          response_types_supported: ["id_token"],
          subject_types_supported: ["public"],
          id_token_signing_alg_values_supported: ["RS256"],
        });
      }
      if (req.method === "GET" && path === jwksPath) {
        const jwk = key.publicKey.export({ format: "jwk" });
        return json(200, { keys: [{ use: "sig", kty: "RSA", kid, alg: "RS256", n: jwk.n, e: jwk.e }] });
      }
      json(404, { kind: "Status", status: "Failure", code: 404 });
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    issuer: options.issuer,
    baseUrl: `https://127.0.0.1:${port}`,
    requests,
    get kid() {
      return kid;
    },
    sign(claims, signOptions = {}) {
      const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");
      const header = encode({ alg: "RS256", kid: signOptions.kid ?? kid, ...(signOptions.header ?? {}) });
      const payload = encode(claims);
      const signature = sign("sha256", Buffer.from(`${header}.${payload}`), signOptions.privateKey ?? key.privateKey).toString("base64url");
      return `${header}.${payload}.${signature}`;
    },
    rotate() {
      key = generateKeyPairSync("rsa", { modulusLength: 2048 });
      kid = randomUUID();
      return kid;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
