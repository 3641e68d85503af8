import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import yaml from "js-yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { release as releaseContract } from "../../generator/contract/release.ts";
import type { FakeAdo } from "../fake-ado/server.ts";
import { run, type RunResult } from "../support/process.ts";
import { docker, dockerOk } from "../image/support/docker.ts";
import { AGENT_VERSION, BASE_IMAGE, agentPackage, ensureDocker, startFake } from "../image/support/environment.ts";
import { repoPath } from "../support/repo.ts";
import { tool } from "../support/tools.ts";

/**
 * The release command (tools/release.sh) against the local registry, then checked from the
 * outside: the registry's own manifests, cosign with the public key only (and with a wrong key),
 * the SPDX attestations' contents, and the published chart pulled back and rendered.
 */

const REGISTRY_HOST = "127.0.0.1:5000";
const ARM64_BASE = `${BASE_IMAGE}-arm64`;
const PLATFORMS = ["linux/amd64", "linux/arm64"] as const;

interface ReleaseRecord {
  version: string;
  registry: string;
  image: { repository: string; tag: string; digest: string; platforms: Record<(typeof PLATFORMS)[number], string>; sboms: Record<string, string> };
  chart: { reference: string; version: string; digest: string; package: string };
  signing: { publicKey: string; fingerprint: string; transparencyLog: boolean };
}

const dir = mkdtempSync(join(tmpdir(), "azp-release-"));
const password = randomBytes(12).toString("hex");
const namespace = `release-test-${randomBytes(4).toString("hex")}`;
const registry = `${REGISTRY_HOST}/${namespace}`;
const out = join(dir, "out");
let fake: FakeAdo | undefined;
let releaseRun: RunResult;
let record: ReleaseRecord;

/** cosign with the test's key password; never against a transparency log (offline). */
function cosign(args: readonly string[]): Promise<RunResult> {
  return run(tool("cosign"), args, { env: { ...process.env, COSIGN_PASSWORD: password }, timeoutMs: 120_000 });
}

/** A manifest straight from the registry's HTTP API (no crane, no cosign in between). */
async function registryManifest(repository: string, reference: string): Promise<{ mediaType: string; body: Record<string, unknown>; digest: string }> {
  const path = repository.slice(REGISTRY_HOST.length + 1);
  const response = await fetch(`http://${REGISTRY_HOST}/v2/${path}/manifests/${reference}`, {
    headers: {
      accept: [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
      ].join(", "),
    },
  });
  if (!response.ok) throw new Error(`GET manifests/${reference} of ${repository}: ${response.status}`);
  const text = await response.text();
  return { mediaType: response.headers.get("content-type") ?? "", body: JSON.parse(text) as Record<string, unknown>, digest: `sha256:${createHash("sha256").update(text).digest("hex")}` };
}

async function registryBlob(repository: string, digest: string): Promise<Record<string, unknown>> {
  const response = await fetch(`http://${REGISTRY_HOST}/v2/${repository.slice(REGISTRY_HOST.length + 1)}/blobs/${digest}`);
  if (!response.ok) throw new Error(`GET blobs/${digest}: ${response.status}`);
  return (await response.json()) as Record<string, unknown>;
}

describe("release: tools/release.sh publishes a signed multi-arch image and chart with SBOMs", () => {
  beforeAll(async () => {
    await ensureDocker();
    const multiarch = await run("bash", [repoPath("tools", "docker-up.sh"), "multiarch"], { timeoutMs: 1_800_000 });
    if (multiarch.code !== 0) throw new Error(`tools/docker-up.sh multiarch failed (${multiarch.code}):\n${multiarch.output}`);
    const keys = await run(tool("cosign"), ["generate-key-pair", "--output-key-prefix", join(dir, "project")], { env: { ...process.env, COSIGN_PASSWORD: password }, timeoutMs: 60_000 });
    if (keys.code !== 0) throw new Error(`cosign generate-key-pair failed:\n${keys.output}`);
    const other = await run(tool("cosign"), ["generate-key-pair", "--output-key-prefix", join(dir, "other")], { env: { ...process.env, COSIGN_PASSWORD: "x" }, timeoutMs: 60_000 });
    if (other.code !== 0) throw new Error(`cosign generate-key-pair failed:\n${other.output}`);
    const pkg = await agentPackage();
    fake = await startFake(pkg);
    const url = `${fake.baseUrl}/_downloads/agent/${AGENT_VERSION}/vsts-agent-linux-x64-${AGENT_VERSION}.tar.gz`;
    releaseRun = await run(
      "bash",
      [
        repoPath("tools", "release.sh"),
        ...["--key", join(dir, "project.key"), "--registry", registry, "--out", out, "--no-tlog"],
        ...["--base-image-amd64", BASE_IMAGE, "--base-image-arm64", ARM64_BASE],
        ...["--agent-package-url", url, "--agent-package-sha256", pkg.sha256],
      ],
      { env: { ...process.env, COSIGN_PASSWORD: password }, timeoutMs: 3_000_000 },
    );
    if (releaseRun.code !== 0) throw new Error(`tools/release.sh failed (${releaseRun.code}):\n${releaseRun.output.slice(-6000)}`);
    record = JSON.parse(readFileSync(join(out, "release.json"), "utf8")) as ReleaseRecord;
  }, 3_600_000);

  afterAll(async () => {
    await fake?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("should tag one multi-arch index whose linux/amd64 and linux/arm64 entries are the images it recorded", async () => {
    expect(record.image.repository).toBe(`${registry}/azp-agent`);
    expect(record.chart.reference).toBe(`oci://${registry}/charts/azp-agent`);
    expect(record.image.tag).toBe(releaseContract.imageTag);
    const index = await registryManifest(record.image.repository, record.image.tag);
    expect(index.digest).toBe(record.image.digest);
    expect(["application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"]).toContain(index.mediaType);
    const entries = (index.body["manifests"] as { digest: string; platform: { os: string; architecture: string } }[]).map((m) => [`${m.platform.os}/${m.platform.architecture}`, m.digest]);
    expect(Object.fromEntries(entries)).toEqual(record.image.platforms);
    expect(entries.map(([platform]) => platform).sort()).toEqual([...PLATFORMS]);
  });

  it.each(PLATFORMS)("should have built %s for that architecture (image config, and uname in a container)", async (platform) => {
    const manifest = await registryManifest(record.image.repository, record.image.platforms[platform]);
    const config = await registryBlob(record.image.repository, (manifest.body["config"] as { digest: string }).digest);
    expect(`${String(config["os"])}/${String(config["architecture"])}`).toBe(platform);
    const ref = `${record.image.repository}@${record.image.platforms[platform]}`;
    await dockerOk(["pull", "--quiet", ref], { timeoutMs: 600_000 });
    const machine = await dockerOk(["run", "--rm", "--platform", platform, "--entrypoint", "uname", ref, "-m"], { timeoutMs: 120_000 });
    expect(machine).toBe(platform === "linux/amd64" ? "x86_64" : "aarch64");
  });

  it("should verify the index, every platform image and the chart with the published key, and refuse another key", async () => {
    const published = join(out, "cosign.pub");
    expect(createHash("sha256").update(readFileSync(published)).digest("hex")).toBe(record.signing.fingerprint);
    const references = [record.image.digest, ...Object.values(record.image.platforms)].map((d) => `${record.image.repository}@${d}`);
    references.push(`${record.chart.reference.replace(/^oci:\/\//, "")}@${record.chart.digest}`);
    for (const reference of references) {
      const good = await cosign(["verify", "--key", published, "--insecure-ignore-tlog=true", "--allow-http-registry", reference]);
      expect(good.code, `${reference}\n${good.output}`).toBe(0);
      const bad = await cosign(["verify", "--key", join(dir, "other.pub"), "--insecure-ignore-tlog=true", "--allow-http-registry", reference]);
      expect(bad.code, `${reference} verified with a key that did not sign it`).not.toBe(0);
      expect(bad.output).toMatch(/no matching signatures|invalid signature/i);
    }
  });

  it.each(PLATFORMS)("should attach a signed SPDX SBOM of the %s image that lists the image's Debian packages", async (platform) => {
    const reference = `${record.image.repository}@${record.image.platforms[platform]}`;
    const r = await cosign(["verify-attestation", "--key", join(out, "cosign.pub"), "--insecure-ignore-tlog=true", "--allow-http-registry", "--type", "spdxjson", reference]);
    expect(r.code, r.output).toBe(0);
    const envelope = JSON.parse(r.stdout.trim().split("\n")[0]!) as { payload: string };
    const statement = JSON.parse(Buffer.from(envelope.payload, "base64").toString("utf8")) as {
      predicateType: string;
      subject: { digest: { sha256: string } }[];
      predicate: { spdxVersion: string; packages: { name: string; versionInfo?: string }[] };
    };
    expect(statement.predicateType).toBe("https://spdx.dev/Document");
    expect(statement.subject.map((s) => `sha256:${s.digest.sha256}`)).toEqual([record.image.platforms[platform]]);
    expect(statement.predicate.spdxVersion).toMatch(/^SPDX-2\.\d$/);
    const names = new Set(statement.predicate.packages.map((p) => p.name));
    for (const name of ["bash", "curl", "jq", "git", "ca-certificates"]) expect(names, `${platform} SBOM lacks ${name}`).toContain(name);
    const onDisk = JSON.parse(readFileSync(join(out, record.image.sboms[platform]!), "utf8")) as { packages: unknown[] };
    expect(onDisk.packages.length).toBe(statement.predicate.packages.length);
  });

  it("should publish a chart that pulls the image by tag and digest from where it was published", async () => {
    const pulled = join(dir, "pulled");
    const helm = await run(tool("helm"), ["pull", record.chart.reference, "--version", record.chart.version, "--plain-http", "--untar", "--untardir", pulled], { timeoutMs: 120_000 });
    expect(helm.code, helm.output).toBe(0);
    const chartDir = join(pulled, releaseContract.chartName);
    const values = yaml.load(readFileSync(join(chartDir, "values.yaml"), "utf8")) as { image: { repository: string; tag: string; digest: string } };
    expect(values.image).toMatchObject({ repository: record.image.repository, tag: "", digest: record.image.digest });
    const chart = yaml.load(readFileSync(join(chartDir, "Chart.yaml"), "utf8")) as { annotations: Record<string, string> };
    expect(yaml.load(chart.annotations["artifacthub.io/images"]!)).toEqual([
      { name: "azp-agent", image: `${record.image.repository}:${record.version}@${record.image.digest}`, platforms: [...PLATFORMS] },
    ]);
    expect((yaml.load(chart.annotations["artifacthub.io/signKey"]!) as { fingerprint: string }).fingerprint).toBe(record.signing.fingerprint);
    const rendered = await run(tool("helm"), ["template", "r", chartDir, "--set", "azp.url=https://dev.azure.com/org", "--set", "azp.pool=p", "--set", "azp.token=t"], { timeoutMs: 60_000 });
    expect(rendered.code, rendered.output).toBe(0);
    const images = new Set([...rendered.stdout.matchAll(/^\s+image: "?([^"\s]+)"?$/gm)].map((m) => m[1]));
    expect([...images]).toEqual([`${record.image.repository}:${record.version}@${record.image.digest}`]);
  });

  it("should make a tag moved to another image fail verification, while the chart still pulls the signed digest", async () => {
    const moved = `${record.image.repository}:${record.image.tag}`;
    await dockerOk(["tag", BASE_IMAGE, moved]);
    await dockerOk(["push", moved], { timeoutMs: 300_000 });
    const r = await cosign(["verify", "--key", join(out, "cosign.pub"), "--insecure-ignore-tlog=true", "--allow-http-registry", moved]);
    expect(r.code, "an unsigned image under the release tag verified").not.toBe(0);
    const signed = await cosign(["verify", "--key", join(out, "cosign.pub"), "--insecure-ignore-tlog=true", "--allow-http-registry", `${record.image.repository}@${record.image.digest}`]);
    expect(signed.code, signed.output).toBe(0);
    await docker(["image", "rm", moved]);
  });
});

describe("release: tools/release.sh refuses to publish what it could not sign", () => {
  const keyDir = mkdtempSync(join(tmpdir(), "azp-release-key-"));
  afterAll(() => rmSync(keyDir, { recursive: true, force: true }));
  const releaseWith = (args: string[], env: NodeJS.ProcessEnv): Promise<RunResult> => {
    const base: NodeJS.ProcessEnv = { ...process.env };
    delete base["COSIGN_PASSWORD"];
    return run("bash", [repoPath("tools", "release.sh"), ...args], { env: { ...base, ...env }, timeoutMs: 300_000 });
  };

  it.each([
    { name: "no key", args: [], env: { COSIGN_PASSWORD: "x" }, message: "release: error: --key <cosign private key> is required (create one with: cosign generate-key-pair)" },
    { name: "a key file that does not exist", args: ["--key", "/nonexistent/cosign.key"], env: { COSIGN_PASSWORD: "x" }, message: "release: error: --key /nonexistent/cosign.key: no such file" },
    { name: "an unknown option", args: ["--sign-later"], env: {}, message: "release: error: unknown argument: --sign-later (see --help)" },
  ])("should exit 2 with $name", async ({ args, env, message }) => {
    const r = await releaseWith(args, env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
  });

  it("should exit 2 before building anything when the key's password is unset or wrong", async () => {
    const keys = await run(tool("cosign"), ["generate-key-pair", "--output-key-prefix", join(keyDir, "k")], { env: { ...process.env, COSIGN_PASSWORD: "right" }, timeoutMs: 60_000 });
    expect(keys.code, keys.output).toBe(0);
    const unset = await releaseWith(["--key", join(keyDir, "k.key")], {});
    expect(unset.code).toBe(2);
    expect(unset.stderr).toContain(`release: error: COSIGN_PASSWORD is not set (the password of ${join(keyDir, "k.key")}`);
    const wrong = await releaseWith(["--key", join(keyDir, "k.key"), "--registry", `${REGISTRY_HOST}/never-pushed`], { COSIGN_PASSWORD: "wrong" });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain(`release: error: cosign cannot read ${join(keyDir, "k.key")} with the given COSIGN_PASSWORD`);
    expect(wrong.stderr).not.toContain("image linux/");
  });
});
