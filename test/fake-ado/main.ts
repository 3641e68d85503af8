// CLI for container and cluster tests:
//   node --import tsx test/fake-ado/main.ts --host 0.0.0.0 --port 8080 --org fakeorg --pat <pat> \
//     --pool k8s-pool --package <vsts-agent.tar.gz> --agent-version 4.264.2
// (`npx tsx ...` works too, but `npm exec` exits on SIGTERM without stopping its child, leaving
// the server running: signal this process, or use `node --import tsx`.)
// Every flag has a FAKE_ADO_* environment variable (flags win). Prints exactly one line
// `fake-ado listening on <org url>` when ready; SIGTERM/SIGINT close it and exit 0.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { startFakeAdo, type FakeAdoOptions, type FakeEntraOptions } from "./server.ts";

const USAGE = `Usage: tsx test/fake-ado/main.ts [options]
  --host <addr>                    FAKE_ADO_HOST                     bind address (default 0.0.0.0)
  --port <n>                       FAKE_ADO_PORT                     port, 0 = random (default 8080)
  --org <name>                     FAKE_ADO_ORG                      organization (default fakeorg)
  --pat <pat>        (repeatable)  FAKE_ADO_PAT (comma list)         valid PAT
  --pat-file <file>                FAKE_ADO_PAT_FILE                 valid PAT read from a file (keeps it off argv)
  --expired-pat <pat>(repeatable)  FAKE_ADO_EXPIRED_PATS (comma)     PAT answered as expired
  --pool <name>      (repeatable)  FAKE_ADO_POOLS (comma list)       pool to create
  --package <file>                 FAKE_ADO_PACKAGE                  agent tar.gz to serve
  --agent-version <v>              FAKE_ADO_AGENT_VERSION            its version (default 4.264.2)
  --platform <p,..>                FAKE_ADO_PLATFORMS                platforms offered (default linux-x64)
  --extra-agent-versions <v,..>    FAKE_ADO_EXTRA_AGENT_VERSIONS     older versions advertised with the same bytes
  --agent-credentials oauth|pat    FAKE_ADO_AGENT_CREDENTIALS        (default oauth)
  --auth-failure-mode ok|html203   FAKE_ADO_AUTH_FAILURE_MODE        (default ok)
  --message-hold-ms <n>            FAKE_ADO_MESSAGE_HOLD_MS          long-poll hold (default 1000)
  --access-token-ttl-seconds <n>   FAKE_ADO_ACCESS_TOKEN_TTL_SECONDS (default 3600)
  --job-lock-ms <n>                FAKE_ADO_JOB_LOCK_MS              (default 300000)
  --session-idle-timeout-ms <n>    FAKE_ADO_SESSION_IDLE_TIMEOUT_MS  (default 60000)
  --public-url <url>               FAKE_ADO_PUBLIC_URL               origin used in links (default: request Host)
  --when-no-agent-matches fail|queue FAKE_ADO_WHEN_NO_AGENT_MATCHES  job no agent can take: fail it (Azure DevOps) or keep it queued (default fail)
  --entra-config <file>            FAKE_ADO_ENTRA_CONFIG             fake Entra ID tables, JSON: {tenants, organizationTenantId,
                                                                     applications:[{clientId, objectId, tenantId, secrets,
                                                                     federatedCredentials:[{issuer, subject, audiences}]}],
                                                                     issuers:[{issuer, baseUrl, ca, cert, key, serverName}],
                                                                     organizationMembers, accessTokenTtlSeconds, jwksCacheTtlSeconds}
                                                                     (ca/cert/key: PEM text or file path; README "Fake Entra ID")
  --entra-token-ttl-seconds <n>    FAKE_ADO_ENTRA_TOKEN_TTL_SECONDS  lifetime of its access tokens (default 3599; wins over the file)
The fake Entra ID answers at <origin>/_entra/ (AZURE_AUTHORITY_HOST): POST /_entra/{tenantId}/oauth2/v2.0/token.
Control plane: GET|POST /_fake/entra (tables, counters), POST /_fake/reset.
`;

const { values } = parseArgs({
  options: {
    host: { type: "string" },
    port: { type: "string" },
    org: { type: "string" },
    pat: { type: "string", multiple: true },
    "pat-file": { type: "string" },
    "expired-pat": { type: "string", multiple: true },
    pool: { type: "string", multiple: true },
    package: { type: "string" },
    "agent-version": { type: "string" },
    platform: { type: "string" },
    "extra-agent-versions": { type: "string" },
    "agent-credentials": { type: "string" },
    "auth-failure-mode": { type: "string" },
    "message-hold-ms": { type: "string" },
    "access-token-ttl-seconds": { type: "string" },
    "job-lock-ms": { type: "string" },
    "session-idle-timeout-ms": { type: "string" },
    "public-url": { type: "string" },
    "when-no-agent-matches": { type: "string" },
    "entra-config": { type: "string" },
    "entra-token-ttl-seconds": { type: "string" },
    help: { type: "boolean" },
  },
  strict: true,
});

if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

const env = process.env;
const list = (flag: string[] | undefined, variable: string | undefined): string[] =>
  (flag && flag.length > 0 ? flag : (variable ?? "").split(","))
    .flatMap((item) => item.split(","))
    .map((item) => item.trim())
    .filter((item) => item !== "");

function integer(flag: string | undefined, variable: string | undefined, name: string): number | undefined {
  const raw = flag ?? variable;
  if (raw === undefined || raw === "") return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) fail(`${name} must be a non-negative integer, got '${raw}'`);
  return value;
}

function fail(message: string): never {
  process.stderr.write(`fake-ado: ${message}\n${USAGE}`);
  process.exit(2);
}

const pats = list(values.pat, env["FAKE_ADO_PAT"]);
const patFile = values["pat-file"] ?? env["FAKE_ADO_PAT_FILE"];
if (patFile) pats.push(readFileSync(patFile, "utf8").trim());

const credentials = values["agent-credentials"] ?? env["FAKE_ADO_AGENT_CREDENTIALS"] ?? "oauth";
if (credentials !== "oauth" && credentials !== "pat") fail(`--agent-credentials must be oauth or pat, got '${credentials}'`);
const noMatch = values["when-no-agent-matches"] ?? env["FAKE_ADO_WHEN_NO_AGENT_MATCHES"];
if (noMatch !== undefined && noMatch !== "fail" && noMatch !== "queue") fail(`--when-no-agent-matches must be fail or queue, got '${noMatch}'`);
const authMode = values["auth-failure-mode"] ?? env["FAKE_ADO_AUTH_FAILURE_MODE"] ?? "ok";
if (authMode !== "ok" && authMode !== "html203") fail(`--auth-failure-mode must be ok or html203, got '${authMode}'`);

// FAKE_PACKAGE_PATH / FAKE_AGENT_VERSION are the names suggested in contract §3.11.
const packageFile = values.package ?? env["FAKE_ADO_PACKAGE"] ?? env["FAKE_PACKAGE_PATH"];
const agentVersion = values["agent-version"] ?? env["FAKE_ADO_AGENT_VERSION"] ?? env["FAKE_AGENT_VERSION"] ?? "4.264.2";
const platforms = list(values.platform ? [values.platform] : undefined, env["FAKE_ADO_PLATFORMS"] ?? "linux-x64");
const extraVersions = list(values["extra-agent-versions"] ? [values["extra-agent-versions"]] : undefined, env["FAKE_ADO_EXTRA_AGENT_VERSIONS"]);

const options: FakeAdoOptions = {
  host: values.host ?? env["FAKE_ADO_HOST"] ?? "0.0.0.0",
  port: integer(values.port, env["FAKE_ADO_PORT"], "--port") ?? 8080,
  org: values.org ?? env["FAKE_ADO_ORG"] ?? "fakeorg",
  pats,
  expiredPats: list(values["expired-pat"], env["FAKE_ADO_EXPIRED_PATS"]),
  pools: list(values.pool, env["FAKE_ADO_POOLS"]),
  packages: packageFile ? [agentVersion, ...extraVersions].map((version) => ({ version, platforms, file: packageFile })) : [],
  agentCredentials: credentials,
  authFailureMode: authMode,
  ...(noMatch !== undefined ? { whenNoAgentMatches: noMatch } : {}),
};
const hold = integer(values["message-hold-ms"], env["FAKE_ADO_MESSAGE_HOLD_MS"], "--message-hold-ms");
if (hold !== undefined) options.messageHoldMs = hold;
const ttl = integer(values["access-token-ttl-seconds"], env["FAKE_ADO_ACCESS_TOKEN_TTL_SECONDS"], "--access-token-ttl-seconds");
if (ttl !== undefined) options.accessTokenTtlSeconds = ttl;
const lock = integer(values["job-lock-ms"], env["FAKE_ADO_JOB_LOCK_MS"], "--job-lock-ms");
if (lock !== undefined) options.jobLockMs = lock;
const idle = integer(values["session-idle-timeout-ms"], env["FAKE_ADO_SESSION_IDLE_TIMEOUT_MS"], "--session-idle-timeout-ms");
if (idle !== undefined) options.sessionIdleTimeoutMs = idle;
const publicUrl = values["public-url"] ?? env["FAKE_ADO_PUBLIC_URL"];
if (publicUrl) options.publicUrl = publicUrl;
const entraConfig = values["entra-config"] ?? env["FAKE_ADO_ENTRA_CONFIG"];
if (entraConfig) {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(entraConfig, "utf8")) as unknown;
  } catch (error) {
    fail(`--entra-config ${entraConfig}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) fail(`--entra-config ${entraConfig} must hold a JSON object`);
  options.entra = parsed as FakeEntraOptions;
}
const entraTtl = integer(values["entra-token-ttl-seconds"], env["FAKE_ADO_ENTRA_TOKEN_TTL_SECONDS"], "--entra-token-ttl-seconds");
if (entraTtl !== undefined) {
  if (entraTtl < 1) fail("--entra-token-ttl-seconds must be at least 1");
  options.entra = { ...(options.entra ?? {}), accessTokenTtlSeconds: entraTtl };
}

const fake = await startFakeAdo(options);
process.stdout.write(`fake-ado listening on ${fake.url}\n`);

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  fake.close().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`fake-ado: close failed: ${String(error)}\n`);
      process.exit(1);
    },
  );
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
