import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { envReadBy, imageContract, type ImageCommand } from "../../generator/contract/image.ts";
import { run } from "../support/process.ts";
import { COMMANDS, IMAGE_DIR, bashWith, commandPath, ensureShellcheck, libPath, q } from "./support/shell.ts";
import { repoPath } from "../support/repo.ts";

/** The image's exit codes, as the contract defines them. */
const EXIT = imageContract.exitCodes;

/**
 * The commands' functions, unit-tested by sourcing the scripts from the source tree (their
 * `BASH_SOURCE == $0` guard keeps main from running). Real containers: the other image tests.
 */

const common = [libPath("common")];
const ado = [libPath("common"), libPath("ado")];

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "azp-unit-"));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("the commands, when sourced", () => {
  it.each(COMMANDS)("should define functions without running main: %s", async (command) => {
    const r = await bashWith([commandPath(command)], "declare -F | grep -c ' -f ' >/dev/null; echo sourced-ok");
    expect(r.output).toBe("sourced-ok\n");
    expect(r.code).toBe(0);
  });

  // The chart sets exactly the contract's variables on each container (env.*.reads); a command
  // reading any other AZP_/POD_ name would silently get nothing.
  it.each(Object.entries(imageContract.commands) as [ImageCommand, string][])("should read exactly the contract's variables: %s", async (key, command) => {
    const text = readFileSync(commandPath(command as (typeof COMMANDS)[number]), "utf8");
    const read = new Set([...text.matchAll(/\$\{((?:AZP|POD|VSO|AZURE)_[A-Z0-9_]+):-/g)].map((m) => m[1]));
    const expected = new Set(envReadBy(key).map((k) => imageContract.env[k].name));
    expect([...read].sort()).toEqual([...expected].sort());
  });
});

describe("shellcheck", () => {
  it("should find nothing in agent-image/ and tools/build-image.sh", async () => {
    const shellcheck = await ensureShellcheck();
    const files = [...COMMANDS.map((c) => `bin/${c}`), "lib/common.sh", "lib/auth.sh", "lib/ado.sh", "lib/kube.sh", "lib/placeholder.sh"];
    const r = await run(shellcheck, ["--external-sources", ...files], { cwd: IMAGE_DIR });
    expect(r.output).toBe("");
    const tool = await run(shellcheck, [repoPath("tools", "build-image.sh")]);
    expect(tool.output).toBe("");
  });
});

describe("common.sh settings", () => {
  it.each([
    ["https://dev.azure.com/contoso", "https://dev.azure.com/contoso"],
    ["https://dev.azure.com/contoso///", "https://dev.azure.com/contoso"],
    ["http://127.0.0.1:8080/fakeorg/", "http://127.0.0.1:8080/fakeorg"],
  ])("should normalise AZP_URL %s", async (input, expected) => {
    const r = await bashWith(common, `setting_url out AZP_URL ${q(input)}; printf '%s' "$out"`);
    expect(r.stdout).toBe(expected);
  });

  it.each([
    ["", "AZP_URL is not set"],
    ["dev.azure.com/contoso", "AZP_URL must be an http(s) URL"],
    ["https://dev.azure.com/contoso?x=1", "AZP_URL must be an http(s) URL"],
    ["https://dev azure.com/contoso", "AZP_URL must be an http(s) URL"],
  ])("should reject AZP_URL '%s' with exit 2 naming the variable", async (input, message) => {
    const r = await bashWith(common, `log_init test; setting_url out AZP_URL ${q(input)}; echo unreachable`);
    expect(r.code).toBe(EXIT.settings);
    expect(r.stderr).toContain(`test: error: ${message}`);
    expect(r.stdout).not.toContain("unreachable");
  });

  it.each([
    ["", "5"],
    ["010", "10"],
    ["1", "1"],
  ])("should accept AZP_CONNECT_ATTEMPTS '%s' as %s", async (input, expected) => {
    const r = await bashWith(common, `setting_uint out AZP_CONNECT_ATTEMPTS ${q(input)} 5 1; printf '%s' "$out"`);
    expect(r.stdout).toBe(expected);
  });

  it.each(["0", "-1", "many", "1e3", "99999999999"])("should reject AZP_CONNECT_ATTEMPTS '%s'", async (input) => {
    const r = await bashWith(common, `setting_uint out AZP_CONNECT_ATTEMPTS ${q(input)} 5 1`);
    expect(r.code).toBe(EXIT.settings);
    expect(r.stderr).toContain("AZP_CONNECT_ATTEMPTS must be a whole number >= 1");
  });

  it("should list the allowed values of an enum setting", async () => {
    const r = await bashWith(common, `setting_enum out AZP_AGENT_SOURCE nope baked baked download`);
    expect(r.code).toBe(EXIT.settings);
    expect(r.stderr).toContain("AZP_AGENT_SOURCE must be one of: baked download; got 'nope'");
  });

  it.each(["pool/x", "-lead", "a;b", ""])("should reject the name '%s'", async (input) => {
    const r = await bashWith(common, `setting_name out AZP_POOL ${q(input)} "the pool"`);
    expect(r.code).toBe(EXIT.settings);
    expect(r.stderr).toContain("AZP_POOL");
  });

  it("should back off exponentially up to 30 seconds", async () => {
    const r = await bashWith(common, "for i in 1 2 3 4 5 6 7 20; do retry_delay $i; done");
    expect(r.stdout.trim().split("\n")).toEqual(["1", "2", "4", "8", "16", "30", "30", "30"]);
  });
});

describe("common.sh SIGTERM pause", () => {
  // A lost SIGTERM leaves a container (and its pod) hanging until the grace period ends.
  it("should return at once when SIGTERM arrived before the pause", async () => {
    const r = await bashWith(common, [
      "trap term_note TERM",
      "kill -TERM $$",
      "start=$(date +%s%N); pause_unless_term 30; end=$(date +%s%N)",
      'echo "received=${TERM_RECEIVED} ms=$(((end - start) / 1000000)) pid=${COMMON_PAUSE_PID:-none}"',
    ].join("\n"));
    const m = /received=(\d) ms=(\d+) pid=(\S+)/.exec(r.stdout);
    expect(m?.[1]).toBe("1");
    expect(Number(m?.[2])).toBeLessThan(5000);
    expect(m?.[3]).toBe("none");
  });

  it("should not lose a SIGTERM that lands at any instant around the pause", async () => {
    // 200 signals from a background process after random delays of 0 to 4 ms; each round pauses
    // 10 s at a time, so a lost signal shows as a round of 10 s or more. (The former
    // `sleep & pid=$!; wait $pid` lost about 1 in 100 on a loaded machine.)
    const r = await bashWith(common, [
      "trap term_note TERM",
      "lost=0",
      "for ((i = 0; i < 200 && lost == 0; i++)); do",
      "  TERM_RECEIVED=0",
      '  (sleep "0.00$((RANDOM % 4))$((RANDOM % 10))"; kill -TERM $$) &',
      "  killer=$!",
      "  start=$(date +%s%N)",
      "  while ((TERM_RECEIVED == 0)); do pause_unless_term 10; done",
      "  (( ($(date +%s%N) - start) / 1000000 < 9000 )) || lost=$((lost + 1))",
      '  wait "${killer}"',
      "done",
      'echo "rounds=${i} lost=${lost}"',
      // No pause left running behind: no `sleep` child of this shell (from /proc, no procps).
      'children=$(cat /proc/[0-9]*/stat 2>/dev/null | grep -c "^[0-9]* (sleep) [A-Z] $$ ")',
      '((children > 0)) || echo no-sleep-left',
    ].join("\n"));
    expect(r.stdout).toContain("rounds=200 lost=0");
    expect(r.stdout).toContain("no-sleep-left");
  }, 60_000);
});

describe("auth.sh PAT file", () => {
  it("should read the PAT without surrounding whitespace and build a Basic header", async () => {
    const file = join(scratch, "token-ok");
    writeFileSync(file, "  s3cr3tpat\n");
    const r = await bashWith(common, `token_load AZP_TOKEN_FILE ${q(file)}; printf '[%s]\\n' "$COMMON_TOKEN"; token_auth_header`);
    expect(r.stdout).toBe(`[s3cr3tpat]\nheader = "Authorization: Basic ${Buffer.from(":s3cr3tpat").toString("base64")}"\n`);
  });

  it.each([
    ["missing", undefined, "does not exist; mount the Secret holding the PAT there"],
    ["empty", "\n \n", "is empty; put the PAT into the Secret"],
  ])("should fail with exit 2 when the file is %s", async (name, content, message) => {
    const file = join(scratch, `token-${name}`);
    if (content !== undefined) writeFileSync(file, content);
    const r = await bashWith(common, `log_init azp-test; token_load AZP_TOKEN_FILE ${q(file)}`);
    expect(r.code).toBe(EXIT.settings);
    expect(r.stderr).toContain(`azp-test: error: AZP_TOKEN_FILE: ${file} ${message}`);
  });
});

/** What ado_request captures: the body, then curl's --write-out trailer. */
function answer(status: number, contentType: string, body: string, serviceError = ""): string {
  return `${body}\n${status}\t${contentType}\t\t${serviceError}`;
}

const JSON_TYPE = "application/json; charset=utf-8; api-version=7.1";
const wrapped = (typeKey: string, message: string): string => JSON.stringify({ $id: "1", innerException: null, message, typeName: `X.${typeKey}, X`, typeKey, errorCode: 0, eventId: 3000 });
const EXPIRED_HEADER = "Access%20Denied%3A%20The%20Personal%20Access%20Token%20used%20has%20expired.";

describe("ado.sh response classification", () => {
  it.each([
    ["ok", answer(200, JSON_TYPE, '{"count":0,"value":[]}'), 0, ""],
    ["ok", answer(204, "", ""), 0, ""],
    ["unreachable", "\n000\t\tFailed to connect to 127.0.0.1 port 1: Connection refused\t", 3, "cannot reach Azure DevOps at https://dev.azure.com/contoso while testing: Failed to connect"],
    ["server_error", answer(503, JSON_TYPE, wrapped("ServiceUnavailableException", "down")), 3, "Azure DevOps failed while testing (HTTP 503: down)"],
    ["token_invalid", answer(401, JSON_TYPE, wrapped("UnauthorizedRequestException", "TF400813: The user '' is not authorized to access this resource.")), 4, "rejected the PAT in AZP_TOKEN_FILE as invalid (HTTP 401 while testing: TF400813"],
    ["token_expired", answer(401, JSON_TYPE, wrapped("AccessCheckException", "Access Denied: The Personal Access Token used has expired."), EXPIRED_HEADER), 4, "has expired (HTTP 401 while testing; Azure DevOps says: Access Denied: The Personal Access Token used has expired.)"],
    ["auth_denied", answer(401, JSON_TYPE, "{}", "VS30063%3A%20You%20are%20not%20authorized."), 4, "denied access while testing (HTTP 401; Azure DevOps says: VS30063: You are not authorized.)"],
    ["signin", answer(203, "text/html; charset=utf-8", "<html><title>Azure DevOps Services | Sign In</title></html>"), 4, "HTML sign-in page (HTTP 203"],
    ["signin", answer(200, "text/html", "<html>portal</html>"), 4, "is not an Azure DevOps organization URL"],
    ["signin", answer(302, "", ""), 4, "sign-in page"],
    ["token_invalid", answer(401, JSON_TYPE, "{}", "%header{x-tfs-serviceerror}"), 4, "as invalid"],
    ["forbidden", answer(403, JSON_TYPE, wrapped("AccessCheckException", "no")), 4, "needs the Agent Pools (Read & manage) scope"],
    ["not_found", answer(404, JSON_TYPE, wrapped("TaskAgentNotFoundException", "gone")), 5, "HTTP 404: gone"],
    ["busy", answer(400, JSON_TYPE, wrapped("TaskAgentBusyException", 'Agent "a" is running a job for pool "p"')), 5, 'still running a job: Agent "a" is running a job'],
    ["bad_response", answer(200, "text/plain", "hello"), 5, "which is not JSON"],
    ["client_error", answer(409, JSON_TYPE, wrapped("TaskAgentExistsException", "exists")), 5, "HTTP 409 TaskAgentExistsException: exists"],
  ])("should classify %s", async (klass, raw, exitCode, message) => {
    const r = await bashWith(ado, `ado_init https://dev.azure.com/contoso; ado_parse_response "$RAW"; ado_problem testing; printf '%s\\n%s\\n%s\\n' "$ADO_CLASS" "$ADO_EXIT" "$ADO_PROBLEM"`, { RAW: raw });
    const [gotClass, gotExit, problem] = r.stdout.split("\n");
    expect({ gotClass, gotExit }).toEqual({ gotClass: klass, gotExit: String(exitCode) });
    expect(problem).toContain(message);
  });

  it("should give the three PAT failures three different messages", async () => {
    const raws = [
      answer(401, JSON_TYPE, wrapped("UnauthorizedRequestException", "TF400813")),
      answer(401, JSON_TYPE, "{}", EXPIRED_HEADER),
      answer(203, "text/html", "<html/>"),
    ];
    const problems = await Promise.all(raws.map(async (raw) => (await bashWith(ado, `ado_parse_response "$RAW"; ado_problem x; printf '%s' "$ADO_PROBLEM"`, { RAW: raw })).stdout));
    expect(new Set(problems.map((p) => p.slice(0, 40))).size).toBe(3);
  });

  it("should encode pool names as a query component", async () => {
    const r = await bashWith(ado, `ado_uri_component 'k8s pool/ä&x'`);
    expect(r.stdout.trim()).toBe("k8s%20pool%2F%C3%A4%26x");
  });

  it("should retry network errors a bounded number of times, then report them", async () => {
    const r = await bashWith(ado, `log_init t; COMMON_TOKEN=x; ado_init http://127.0.0.1:1/org; ado_request_retry 3 GET http://127.0.0.1:1/org/_apis/connectionData; printf '%s %s\\n' "$ADO_CLASS" "$ADO_ATTEMPTS"`);
    expect(r.stdout).toBe("unreachable 3\n");
    expect(r.stderr.match(/attempt \d\/3 failed/g)).toEqual(["attempt 1/3 failed", "attempt 2/3 failed"]);
    expect(r.stderr).toContain("retrying in 1s");
    expect(r.stderr).toContain("retrying in 2s");
  });
});

describe("azp-register functions", () => {
  it("should find the PAT in the agent's files, and only there", async () => {
    const dir = join(scratch, "agent-home");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, ".agent"), '{"agentId":1}');
    writeFileSync(join(dir, ".credentials"), '{"scheme":"PAT","data":{"token":"s3cr3tpat"}}');
    writeFileSync(join(dir, "config.sh"), "#!/bin/bash\n");
    const r = await bashWith([commandPath("azp-register")], `COMMON_TOKEN=s3cr3tpat; register_find_pat ${q(dir)}`);
    expect(r.stdout.trim()).toBe(join(dir, ".credentials"));
  });

  it.each([
    ["file", "file:///etc/passwd"],
    ["plain http", "http://mirror.example.com/agent.tar.gz"],
  ])("should refuse to download the package over %s, and touch nothing", async (_name, url) => {
    const home = join(scratch, `download-home-${_name.replace(" ", "-")}`);
    mkdirSync(home, { recursive: true });
    const r = await bashWith([commandPath("azp-register")], `log_init azp-register; register_download ${q(url)} ${"ab".repeat(32)} ${q(home)} 60`);
    expect(r.code).toBe(EXIT.package);
    expect(r.stderr).toContain(`azp-register: error: refusing to download the agent package over a connection that is not https: ${url}`);
    expect((await run("ls", ["-A", home])).stdout).toBe("");
  });

  it.each([
    ["a mirror without its hash", "AZP_AGENT_PACKAGE_URL=https://mirror.example.com/a.tar.gz", "AZP_AGENT_PACKAGE_SHA256 must be the package's SHA-256"],
    ["a hash without a mirror", `AZP_AGENT_PACKAGE_SHA256=${"ab".repeat(32)}`, "AZP_AGENT_PACKAGE_URL is not set: the https URL of the agent package"],
    ["an http mirror", `AZP_AGENT_PACKAGE_URL=http://mirror.example.com/a.tar.gz AZP_AGENT_PACKAGE_SHA256=${"ab".repeat(32)}`, "AZP_AGENT_PACKAGE_URL must be an https URL; got 'http://mirror.example.com/a.tar.gz'"],
  ])("should refuse %s before anything else (exit 2)", async (_name, assignments, message) => {
    const token = join(scratch, "token-register");
    writeFileSync(token, "s3cr3tpat");
    const r = await bashWith([commandPath("azp-register")], `${assignments} AZP_URL=https://dev.azure.com/x AZP_POOL=p AZP_AGENT_NAME=a AZP_AGENT_SOURCE=download AZP_TOKEN_FILE=${q(token)} register_main`);
    expect(r.code).toBe(EXIT.settings);
    expect(r.stderr).toContain(message);
  });

  it.each([
    ["x86_64", "linux-x64"],
    ["amd64", "linux-x64"],
    ["aarch64", "linux-arm64"],
    ["arm64", "linux-arm64"],
  ])("should map the machine type %s to the package platform %s", async (machine, platform) => {
    const r = await bashWith([commandPath("azp-register")], `uname() { printf '%s\\n' ${q(machine)}; }; register_platform p; printf '%s' "$p"`);
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toBe(platform);
  });

  it("should map this machine's own type (uname -m, not stubbed) to its platform", async () => {
    const r = await bashWith([commandPath("azp-register")], `register_platform p; printf '%s' "$p"`);
    expect(r.stdout).toBe(process.arch === "arm64" ? "linux-arm64" : "linux-x64");
  });

  it("should refuse a machine type for which there is no agent package", async () => {
    const r = await bashWith([commandPath("azp-register")], `log_init azp-register; uname() { printf '%s\\n' s390x; }; register_platform p`);
    expect(r.code).toBe(EXIT.package);
    expect(r.stderr).toContain("azp-register: error: there is no Azure Pipelines agent package for machine type 's390x'");
  });
});

describe("azp-run console watcher", () => {
  it("should set the job-running hint on 'Running job' and clear it on completion", async () => {
    const state = mkdtempSync(join(scratch, "state-"));
    const script = `AZP_PATH_STATE=${q(state)}
printf '%s\\n' '2026-11-28 08:00:00Z: Listening for Jobs' '2026-11-28 08:00:01Z: Running job: Build app' | run_watch_console
hint_present ${imageContract.stateFiles.busy} && echo busy
printf '%s\\n' '2026-11-28 08:00:09Z: Job Build app completed with result: Succeeded' | run_watch_console
hint_present ${imageContract.stateFiles.busy} && echo still-busy || echo idle`;
    const r = await bashWith([commandPath("azp-run")], script);
    expect(r.stdout).toBe(
      "2026-11-28 08:00:00Z: Listening for Jobs\n2026-11-28 08:00:01Z: Running job: Build app\nbusy\n2026-11-28 08:00:09Z: Job Build app completed with result: Succeeded\nidle\n",
    );
  });

  it.each([
    [3600, "3555"],
    [300, "255"],
    [60, "20"],
    [30, "10"],
    [0, "-1"],
  ])("should cancel a job still running near the end of a %s s grace period, after %s s", async (grace, expected) => {
    const r = await bashWith([commandPath("azp-run")], `run_cancel_at ${grace}`);
    expect(r.stdout).toBe(`${expected}\n`);
  });
});

describe("lifecycle hints in the job-writable state volume", () => {
  // The job can put anything at a hint's path. Only presence counts, through lstat: a FIFO
  // would block an open, a symlink would lead to the PAT.
  it.each([
    ["a symlink to the PAT", "ln -s /azp/secrets/token"],
    ["a dangling symlink", "ln -s /nonexistent"],
    ["a FIFO", "mkfifo"],
    ["a directory", "mkdir"],
    ["a regular file", "touch"],
  ])("should see %s as present, without opening it", async (_name, make) => {
    const state = mkdtempSync(join(scratch, "state-"));
    const r = await bashWith(common, `AZP_PATH_STATE=${q(state)}; ${make} ${q(join(state, "agent-exited"))}; timeout 5 bash -c 'source ${q(libPath("common"))}; AZP_PATH_STATE=${q(state)}; hint_present agent-exited && echo present'`);
    expect(r.stdout).toBe("present\n");
  });

  it("should replace a symlink planted at a hint's path instead of writing through it", async () => {
    const state = mkdtempSync(join(scratch, "state-"));
    const victim = join(scratch, "victim");
    writeFileSync(victim, "untouched");
    const r = await bashWith(common, `AZP_PATH_STATE=${q(state)}; ln -s ${q(victim)} ${q(join(state, "agent-removed"))}; hint_set agent-removed; test -L ${q(join(state, "agent-removed"))} && echo still-link || echo replaced; ls -A ${q(state)}`);
    expect(r.stdout).toBe("replaced\nagent-removed\n");
    expect(readFileSync(victim, "utf8")).toBe("untouched");
  });

  it("should not block on a FIFO when setting or clearing a hint", async () => {
    const state = mkdtempSync(join(scratch, "state-"));
    const r = await bashWith(common, `AZP_PATH_STATE=${q(state)}; mkfifo ${q(join(state, "job-running"))}; timeout 5 bash -c 'source ${q(libPath("common"))}; AZP_PATH_STATE=${q(state)}; hint_set job-running; hint_clear job-running; hint_present job-running || echo cleared'`);
    expect(r.stdout).toBe("cleared\n");
  });
});

describe("untrusted text", () => {
  it("should turn control characters into spaces and cut long text", async () => {
    const r = await bashWith(common, `text_safe out $'line1\\nline2\\e[31mred\\r' 12; printf '[%s]' "$out"`);
    expect(r.stdout).toBe("[line1 line2 ...]");
  });

  it("should percent-decode without interpreting backslash escapes", async () => {
    const r = await bashWith(common, `text_url_decode out 'Access%20Denied%3A%20x%5Cn%41+\\x41'; printf '[%s]' "$out"`);
    expect(r.stdout).toBe("[Access Denied: x\\nA \\x41]");
  });
});

describe("the agent's environment", () => {
  const exportScript = `agent_env_export "$GIVEN"; printf '%s\\n' "VSO_AGENT_IGNORE=$VSO_AGENT_IGNORE" "VSTS_HTTP_PROXY=\${VSTS_HTTP_PROXY:-}" "USER=\${VSTS_HTTP_PROXY_USERNAME:-}" "PASSWORD=\${VSTS_HTTP_PROXY_PASSWORD:-}" "LC_ALL=$LC_ALL"`;

  it("should give the agent the https proxy without its credentials, and the credentials apart (AgentKnobs.cs)", async () => {
    const r = await bashWith(common, exportScript, { GIVEN: "", HTTPS_PROXY: "http://svc%40corp:p%3Ass@proxy.internal:3128", HTTP_PROXY: "http://other:8080" });
    expect(r.stdout).toContain("VSTS_HTTP_PROXY=http://proxy.internal:3128\nUSER=svc@corp\nPASSWORD=p:ss\nLC_ALL=C.UTF-8\n");
  });

  it("should fall back to the http proxy and leave the agent's variables unset without any proxy", async () => {
    const withHttp = await bashWith(common, exportScript, { GIVEN: "", http_proxy: "http://proxy:8080" });
    expect(withHttp.stdout).toContain("VSTS_HTTP_PROXY=http://proxy:8080\nUSER=\nPASSWORD=\n");
    const without = await bashWith(common, exportScript, { GIVEN: "" });
    expect(without.stdout).toContain("VSTS_HTTP_PROXY=\nUSER=\nPASSWORD=\n");
  });

  it("should hide the given names and the image's own from the capabilities, proxy variables in both spellings", async () => {
    const r = await bashWith(common, exportScript, { GIVEN: "TEAM_SECRET,NUGET_PACKAGES" });
    const ignored = (/VSO_AGENT_IGNORE=(.*)/.exec(r.stdout)?.[1] ?? "").split(",");
    expect(ignored.slice(0, 2)).toEqual(["TEAM_SECRET", "NUGET_PACKAGES"]);
    for (const name of ["AZP_URL", "AZP_TOKEN_FILE", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "VSTS_HTTP_PROXY", "VSTS_HTTP_PROXY_PASSWORD", "VSO_AGENT_IGNORE"]) {
      expect(ignored).toContain(name);
    }
    // The release is a capability on purpose (pipelines demand it, helm test counts by it).
    expect(ignored).not.toContain("AZP_RELEASE");
  });
});

describe("azp-refresh", () => {
  it("should build the patch kubectl rollout restart sends", async () => {
    const r = await bashWith([commandPath("azp-refresh")], "refresh_patch_body 2026-11-28T08:00:00Z");
    expect(JSON.parse(r.stdout)).toEqual({ spec: { template: { metadata: { annotations: { "kubectl.kubernetes.io/restartedAt": "2026-11-28T08:00:00Z" } } } } });
  });

  it("should refuse to run outside Kubernetes with a clear message", async () => {
    const r = await run("bash", [commandPath("azp-refresh")], { env: { PATH: process.env["PATH"] ?? "", AZP_DEPLOYMENT: "d", POD_NAMESPACE: "ns" } });
    expect(r.code).toBe(EXIT.settings);
    expect(r.stderr).toContain("azp-refresh: error: not running in Kubernetes");
  });
});
