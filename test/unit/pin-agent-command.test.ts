// `npm run pin-agent`: the whole command, in-process, on a temporary copy of the pin file — offline
// with recorded release notes, and over HTTP against the fake Azure DevOps (test/fake-ado) and a
// local stand-in for api.github.com. The real contract must come out of the run unchanged.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startFakeAdo, type FakeAdo } from "../fake-ado/server.ts";
import { runSync } from "../support/process.ts";
import { pinAgentCommand } from "../../tools/pin-agent/command.ts";
import { DEFAULT_PIN_FILE } from "../../tools/pin-agent/pin-file.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const FIXTURES = fileURLToPath(new URL("./fixtures/agent-pin/", import.meta.url));
const V4269 = join(FIXTURES, "github-release-v4.269.0.json");
const PAT = "pin-agent-test-pat";

// Microsoft's hashes of 4.269.0 as its release notes list them (fixtures/agent-pin/README.md).
const X64_4269 = "b7bfdc699857e7e045345494eec7f89c81d870e469e7d6199b37d6bf1601d3cf";
const ARM64_4269 = "78b4f4c05cf2a74ef6d136386427ef3bd80a36abf75832813a014e0362d3164d";
// The fake's packages and their SHA-256 (`printf '…\n' | sha256sum`), as its hashValue publishes them.
const FAKE_X64 = Buffer.from("fake vsts-agent-linux-x64 package\n");
const FAKE_ARM64 = Buffer.from("fake vsts-agent-linux-arm64 package\n");
const FAKE_X64_SHA = "50f8bb0f76bb0526c0f3a9ca693d281f560e6fd6f137ea1170753329fde64f63";
const FAKE_ARM64_SHA = "8a1653731a7083c7fe4432424d180395bdf12ccb500e86b2cdcefc66b27550f4";

const UNPINNED = `{
  "$comment": "Written by \`npm run pin-agent -- <version>\` (agent-image/README.md): hashes come from Microsoft (release notes or the service's hashValue), never from the download. Then run \`npm run generate\`.",
  "version": "4.264.2",
  "sha256": {
    "linux-x64": "",
    "linux-arm64": ""
  },
  "sources": []
}
`;

interface Run {
  code: number;
  out: string;
  err: string;
}

let dir: string;
let pinFile: string;
let contractBefore: string;

async function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await pinAgentCommand([...args, "--pin-file", pinFile], { env, cwd: REPO, out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

const pinned = async (): Promise<unknown> => JSON.parse(await readFile(pinFile, "utf8"));

beforeAll(async () => {
  contractBefore = await readFile(DEFAULT_PIN_FILE, "utf8");
});

afterAll(async () => {
  expect(await readFile(DEFAULT_PIN_FILE, "utf8")).toBe(contractBefore);
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "pin-agent-"));
  pinFile = join(dir, "agent-pin.json");
  // A copy in the unpinned state, whatever the contract records today.
  await writeFile(pinFile, UNPINNED);
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("pin-agent offline (--from-file)", () => {
  it("should record the version, both hashes and the release page, and print the change", async () => {
    // WHEN
    const result = await run(["4.269.0", "--from-file", V4269]);
    // THEN
    expect(result).toMatchObject({ code: 0, err: "" });
    expect(await pinned()).toEqual({
      $comment: expect.any(String),
      version: "4.269.0",
      sha256: { "linux-x64": X64_4269, "linux-arm64": ARM64_4269 },
      sources: ["https://github.com/microsoft/azure-pipelines-agent/releases/tag/v4.269.0 (release notes)"],
    });
    expect(result.out).toContain("version     4.264.2 -> 4.269.0");
    expect(result.out).toContain(`linux-x64   (none) -> ${X64_4269}`);
    expect(result.out).toContain(`linux-arm64 (none) -> ${ARM64_4269}`);
    expect(result.out).toContain("next: npm run generate");
  });

  it("should write nothing with --dry-run", async () => {
    // WHEN
    const result = await run(["4.269.0", "--from-file", V4269, "--dry-run"]);
    // THEN
    expect(result.code).toBe(0);
    expect(result.out).toContain("dry run, nothing written");
    expect(await readFile(pinFile, "utf8")).toBe(UNPINNED);
  });

  it("should say so when the pin is already current", async () => {
    // GIVEN
    await run(["4.269.0", "--from-file", V4269]);
    const first = await readFile(pinFile, "utf8");
    // WHEN
    const again = await run(["4.269.0", "--from-file", V4269]);
    // THEN
    expect(again.code).toBe(0);
    expect(again.out).toContain("already records 4.269.0 with these hashes; nothing changed");
    expect(await readFile(pinFile, "utf8")).toBe(first);
  });

  it("should note a release GitHub marks as pre-release", async () => {
    const result = await run(["3.212.0", "--from-file", join(FIXTURES, "github-release-v3.212.0.json"), "--dry-run"]);
    expect(result.code).toBe(0);
    expect(result.out).toContain("GitHub marks v3.212.0 as a pre-release");
  });

  it.each<{ case: string; args: string[]; env?: Record<string, string>; code: number; message: string }>([
    { case: "a version with a leading v", args: ["v4.269.0", "--from-file", V4269], code: 2, message: "pin-agent: version 'v4.269.0' is not major.minor.patch (e.g. 4.269.0, without a leading v or a suffix)" },
    { case: "a pre-release suffix", args: ["4.269.0-rc1", "--from-file", V4269], code: 2, message: "version '4.269.0-rc1' is not major.minor.patch" },
    { case: "no version", args: ["--from-file", V4269], code: 2, message: "pin-agent: which version? e.g. npm run pin-agent -- 4.269.0" },
    { case: "two versions", args: ["4.269.0", "4.270.0"], code: 2, message: "one version at a time, got 4.269.0 4.270.0" },
    { case: "an unknown option", args: ["4.269.0", "--sha256", "x"], code: 2, message: "Unknown option '--sha256'" },
    { case: "--no-github alone", args: ["4.269.0", "--no-github"], code: 2, message: "--no-github leaves no source: add --org-url <organization URL> (and AZP_TOKEN)" },
    { case: "--org-url without AZP_TOKEN", args: ["4.269.0", "--org-url", "https://dev.azure.com/contoso"], code: 2, message: "--org-url needs a PAT in the environment variable AZP_TOKEN" },
    { case: "notes without hashes (v2.169.1)", args: ["2.169.1", "--from-file", join(FIXTURES, "github-release-v2.169.1.json")], code: 1, message: "lists vsts-agent-linux-x64-2.169.1.tar.gz without a SHA-256" },
    { case: "the release of another version", args: ["4.264.2", "--from-file", V4269], code: 1, message: "is the release v4.269.0, not v4.264.2" },
    { case: "a file that is not JSON", args: ["4.269.0", "--from-file", join(FIXTURES, "releaseNote-template.md")], code: 1, message: "releaseNote-template.md is not JSON" },
    { case: "a missing file", args: ["4.269.0", "--from-file", join(FIXTURES, "nope.json")], code: 1, message: "cannot read --from-file" },
  ])("should refuse $case, naming the fix, and write nothing", async ({ args, env, code, message }) => {
    // WHEN
    const result = await run(args, env);
    // THEN
    expect(result.code).toBe(code);
    expect(result.err).toContain(message);
    expect(await readFile(pinFile, "utf8")).toBe(UNPINNED);
  });

  it("should refuse a pin file it cannot trust", async () => {
    // GIVEN
    await writeFile(pinFile, UNPINNED.replace('"linux-x64": ""', '"linux-x64": "abc"'));
    // WHEN
    const result = await run(["4.269.0", "--from-file", V4269]);
    // THEN
    expect(result.code).toBe(1);
    expect(result.err).toContain("'sha256.linux-x64' must be \"\" or a lowercase 64-hex SHA-256, got \"abc\"");
  });
});

/** A stand-in for api.github.com serving release objects by tag. */
async function startFakeGitHub(releases: Record<string, unknown>): Promise<{ url: string; paths: string[]; close: () => Promise<void> }> {
  const paths: string[] = [];
  const server: Server = createServer((req, res) => {
    paths.push(req.url ?? "");
    const tag = /^\/repos\/microsoft\/azure-pipelines-agent\/releases\/tags\/(v[^/?]+)$/.exec(req.url ?? "")?.[1];
    const release = tag === undefined ? undefined : releases[tag];
    res.writeHead(release === undefined ? 404 : 200, { "Content-Type": "application/json; charset=utf-8" });
    res.end(JSON.stringify(release ?? { message: "Not Found" }));
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, paths, close: () => new Promise((done) => server.close(() => done())) };
}

describe("pin-agent over HTTP (fake Azure DevOps, stand-in GitHub)", () => {
  let fake: FakeAdo;
  let github: Awaited<ReturnType<typeof startFakeGitHub>>;

  beforeAll(async () => {
    fake = await startFakeAdo({
      pats: [PAT],
      packages: [
        { version: "4.269.0", platforms: ["linux-x64"], data: FAKE_X64 },
        { version: "4.269.0", platforms: ["linux-arm64"], data: FAKE_ARM64 },
        { version: "4.270.0", platforms: ["linux-x64", "linux-arm64"], data: FAKE_X64, publishHash: false },
      ],
    });
    const v4269 = JSON.parse(await readFile(V4269, "utf8")) as { body: string };
    github = await startFakeGitHub({
      "v4.269.0": v4269,
      // A release whose notes list no packages.
      "v4.270.0": { ...v4269, tag_name: "v4.270.0", html_url: "https://github.com/microsoft/azure-pipelines-agent/releases/tag/v4.270.0", body: "" },
    });
  });

  afterAll(async () => {
    await fake.close();
    await github.close();
  });

  it("should take the service's hashValue with --no-github and never download a package", async () => {
    // GIVEN
    const mark = fake.requests().at(-1)?.seq ?? 0;
    // WHEN
    const result = await run(["4.269.0", "--no-github", "--org-url", fake.url], { AZP_TOKEN: PAT });
    // THEN
    expect(result).toMatchObject({ code: 0, err: "" });
    expect(await pinned()).toMatchObject({
      version: "4.269.0",
      sha256: { "linux-x64": FAKE_X64_SHA, "linux-arm64": FAKE_ARM64_SHA },
      sources: [`${fake.url}/_apis/distributedtask/packages/agent (hashValue)`],
    });
    const calls = fake.requests().filter((entry) => entry.seq > mark);
    expect(calls.map((entry) => entry.path)).toEqual([
      "/fakeorg/_apis/distributedtask/packages/agent?platform=linux-x64&api-version=5.1-preview.2",
      "/fakeorg/_apis/distributedtask/packages/agent?platform=linux-arm64&api-version=5.1-preview.2",
    ]);
    expect(calls.every((entry) => entry.status === 200 && entry.authScheme === "Basic")).toBe(true);
    expect(fake.requests().some((entry) => entry.path.includes("/_downloads/"))).toBe(false);
  });

  it("should read the release notes from GitHub and refuse when the service's hashValue disagrees", async () => {
    // WHEN the notes say Microsoft's 4.269.0 hashes and the fake serves other bytes under 4.269.0
    const result = await run(["4.269.0", "--github-api", github.url, "--org-url", fake.url], { AZP_TOKEN: PAT });
    // THEN
    expect(result.code).toBe(1);
    expect(result.err).toContain(
      `the release notes and ${fake.url} disagree on the linux-x64 package of 4.269.0: notes ${X64_4269}, service hashValue ${FAKE_X64_SHA}. Refusing to pin;`,
    );
    expect(github.paths).toContain("/repos/microsoft/azure-pipelines-agent/releases/tags/v4.269.0");
    expect(await readFile(pinFile, "utf8")).toBe(UNPINNED);
  });

  it("should record both sources when the notes and the service agree", async () => {
    // GIVEN notes for 4.269.0 that list the fake's hashes
    const v4269 = JSON.parse(await readFile(V4269, "utf8")) as { body: string };
    const agreeing = await startFakeGitHub({ "v4.269.0": { ...v4269, body: v4269.body.replace(X64_4269, FAKE_X64_SHA).replace(ARM64_4269, FAKE_ARM64_SHA) } });
    try {
      // WHEN
      const result = await run(["4.269.0", "--github-api", agreeing.url, "--org-url", `${fake.url}/`], { AZP_TOKEN: PAT });
      // THEN
      expect(result).toMatchObject({ code: 0, err: "" });
      expect(result.out).toContain("(agrees with the release notes)");
      expect(await pinned()).toMatchObject({
        sha256: { "linux-x64": FAKE_X64_SHA, "linux-arm64": FAKE_ARM64_SHA },
        sources: ["https://github.com/microsoft/azure-pipelines-agent/releases/tag/v4.269.0 (release notes)", `${fake.url}/_apis/distributedtask/packages/agent (hashValue)`],
      });
    } finally {
      await agreeing.close();
    }
  });

  it.each<{ case: string; args: () => string[]; env: Record<string, string>; message: () => string }>([
    {
      case: "a package the service lists without hashValue",
      args: () => ["4.270.0", "--no-github", "--org-url", fake.url],
      env: { AZP_TOKEN: PAT },
      message: () => "lists the linux-x64 agent 4.270.0 without a hashValue",
    },
    {
      case: "a version the service does not offer",
      args: () => ["4.100.0", "--no-github", "--org-url", fake.url],
      env: { AZP_TOKEN: PAT },
      message: () => "offers no linux-x64 agent 4.100.0 (it lists: 4.270.0, 4.269.0)",
    },
    {
      case: "a PAT the service does not accept",
      args: () => ["4.269.0", "--no-github", "--org-url", fake.url],
      env: { AZP_TOKEN: "wrong" },
      message: () => "answered 401: the PAT in AZP_TOKEN was not accepted; it needs the Agent Pools (Read) scope",
    },
    {
      case: "a release GitHub does not have",
      args: () => ["4.1.0", "--github-api", github.url],
      env: {},
      message: () => `GitHub has no release v4.1.0 of microsoft/azure-pipelines-agent (GET ${github.url}/repos/microsoft/azure-pipelines-agent/releases/tags/v4.1.0 answered 404)`,
    },
    {
      case: "a release whose notes list no packages",
      args: () => ["4.270.0", "--github-api", github.url],
      env: {},
      message: () => "lists no vsts-agent-linux-x64-4.270.0.tar.gz",
    },
    {
      case: "a GitHub it cannot reach",
      args: () => ["4.269.0", "--github-api", "http://127.0.0.1:9"],
      env: {},
      message: () => "could not reach http://127.0.0.1:9/repos/microsoft/azure-pipelines-agent/releases/tags/v4.269.0",
    },
  ])("should refuse $case and write nothing", async ({ args, env, message }) => {
    // WHEN
    const result = await run(args(), env);
    // THEN
    expect(result.code).toBe(1);
    expect(result.err).toContain(message());
    expect(result.err).toContain("pin-agent: nothing was written");
    expect(await readFile(pinFile, "utf8")).toBe(UNPINNED);
  });
});

describe("npm run pin-agent", () => {
  it("should run the command from package.json, resolving --from-file where it was typed", () => {
    // WHEN
    const result = runSync("npm", ["run", "-s", "pin-agent", "--", "4.269.0", "--from-file", "github-release-v4.269.0.json", "--pin-file", pinFile, "--dry-run"], {
      cwd: FIXTURES,
      env: { ...process.env, INIT_CWD: FIXTURES },
      timeoutMs: 60_000,
    });
    // THEN
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`linux-arm64 (none) -> ${ARM64_4269}`);
  });
});
