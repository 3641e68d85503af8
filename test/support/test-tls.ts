import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runSync } from "./process.ts";

/**
 * A self-signed certificate for the fake services' https listeners, valid for the given IP
 * addresses and names; the file is what a pod trusts through the chart's `caBundle`.
 */
export interface TestTls {
  readonly key: string;
  readonly cert: string;
  /** The certificate file (PEM), to mount as the CA bundle. */
  readonly certFile: string;
  /** Its directory (holds only the certificate and the key). */
  readonly dir: string;
}

export function makeTestTls(addresses: readonly string[]): TestTls {
  const dir = mkdtempSync(join(tmpdir(), "azp-test-tls-"));
  const keyFile = join(dir, "tls.key");
  const certFile = join(dir, "ca.crt");
  const names = [...new Set(addresses)].map((a) => (/^[0-9.]+$|:/.test(a) ? `IP:${a}` : `DNS:${a}`)).join(",");
  const r = runSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", certFile, "-days", "2", "-subj", "/CN=azp-agent test", "-addext", `subjectAltName=${names}`, "-addext", "basicConstraints=critical,CA:TRUE"]);
  if (r.code !== 0) throw new Error(`openssl req failed (${r.code}):\n${r.output}`);
  return { key: readFileSync(keyFile, "utf8"), cert: readFileSync(certFile, "utf8"), certFile, dir };
}
