import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import { agentPlatforms, release, type AgentPlatform } from "../../../generator/contract/release.ts";
import { startFakeAdo, type FakeAdo, type FakeAdoOptions } from "../../fake-ado/server.ts";
import { BUILD_PACKAGE_SCRIPT, buildFakeAgentPackage } from "../../fake-agent/harness.ts";
import { repoPath } from "../../support/repo.ts";
import { makeTestTls, type TestTls } from "../../support/test-tls.ts";
import { run } from "../../support/process.ts";
import { docker } from "./docker.ts";
import { testPools } from "../../fake-ado/test-pools.ts";

/**
 * Shared setup of the image tests: a Docker engine (tools/docker-up.sh), the fake agent package
 * (test/fake-agent/build-package.sh), the in-process fake Azure DevOps on 127.0.0.1 (reached by
 * `--network host` containers) and the image built by tools/build-image.sh with that package
 * baked in. The image is tagged by the hash of everything it is built from, so test files and
 * repeated runs share one build.
 */

/** Distinctive PATs: the leak checks search for these strings. */
export const PAT = `azptestpat${randomBytes(12).toString("hex")}`;
export const EXPIRED_PAT = `azpexpiredpat${randomBytes(12).toString("hex")}`;
export const UNKNOWN_PAT = `azpunknownpat${randomBytes(12).toString("hex")}`;
export const POOL = testPools.agents;
/** The agent's console line once it waits for a job (ado-contract.md; the fake agent prints it too). */
export const LISTENING = "Listening for Jobs";
export const BASE_IMAGE = process.env["AZP_TEST_BASE_IMAGE"] ?? "local/debian:bookworm";
/** An image architecture the tests build (Docker's name; the contract's `agentPlatforms` keys). */
export type ImagePlatform = keyof typeof agentPlatforms;
/** This machine's architecture: the platform every image test builds unless told otherwise. */
export const HOST_PLATFORM: ImagePlatform = process.arch === "arm64" ? "arm64" : "amd64";

/**
 * The base image of a platform: BASE_IMAGE for this machine's, and for another one the base
 * `tools/docker-up.sh multiarch` makes (`local/debian:bookworm-arm64`), unless
 * AZP_TEST_BASE_IMAGE_<ARCH> names one.
 */
export function baseImageFor(platform: ImagePlatform): string {
  if (platform === HOST_PLATFORM) return BASE_IMAGE;
  return process.env[`AZP_TEST_BASE_IMAGE_${platform.toUpperCase()}`] ?? `${BASE_IMAGE}-${platform}`;
}
/** The fake package carries the contract's agent version, as the real baked one would. */
export const AGENT_VERSION: string = release.agentVersion;
export const CACHE_DIR: string = repoPath(".cache", "image-tests");

export interface AgentPackage {
  readonly file: string;
  readonly sha256: string;
  readonly bytes: number;
  /** The agent platform it is stamped with (the fake listener reports it as Agent.OSArchitecture). */
  readonly platform: AgentPlatform;
}

let dockerReady: Promise<void> | undefined;

/** tools/docker-up.sh all: engine, local registry, base image (idempotent). */
export function ensureDocker(): Promise<void> {
  dockerReady ??= (async () => {
    const r = await run("bash", [repoPath("tools", "docker-up.sh"), "all"], { timeoutMs: 900_000 });
    if (r.code !== 0) throw new Error(`tools/docker-up.sh all failed (${r.code}):\n${r.output}`);
  })();
  return dockerReady;
}

let multiarchReady: Promise<void> | undefined;

/**
 * tools/docker-up.sh multiarch: QEMU user emulation registered with binfmt_misc and the other
 * architecture's base image (a cold arm64 debootstrap runs under emulation: minutes).
 */
export function ensureMultiarch(): Promise<void> {
  multiarchReady ??= (async () => {
    await ensureDocker();
    const r = await run("bash", [repoPath("tools", "docker-up.sh"), "multiarch"], { timeoutMs: 1_800_000 });
    if (r.code !== 0) throw new Error(`tools/docker-up.sh multiarch failed (${r.code}):\n${r.output}`);
  })();
  return multiarchReady;
}

function sha256File(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

/**
 * The fake agent package (optionally padded to a realistic size), cached under .cache/. The
 * package is shell scripts only; `platform` is the name it is stamped and filed with.
 */
export async function agentPackage(padMb = 0, platform: AgentPlatform = agentPlatforms.amd64): Promise<AgentPackage> {
  mkdirSync(CACHE_DIR, { recursive: true });
  const sources = [BUILD_PACKAGE_SCRIPT, ...listFiles(repoPath("test", "fake-agent", "layout"))];
  const inputs = createHash("sha256");
  for (const file of sources) inputs.update(file).update(readFileSync(file));
  const stamp = inputs.update(`${AGENT_VERSION}/${padMb}`).digest("hex").slice(0, 12);
  const file = join(CACHE_DIR, `vsts-agent-${platform}-${AGENT_VERSION}-${stamp}${padMb ? `-pad${padMb}` : ""}.tar.gz`);
  if (!existsSync(file)) {
    await buildFakeAgentPackage(`${file}.tmp.tar.gz`, { version: AGENT_VERSION, platform, padMb });
    renameSync(`${file}.tmp.tar.gz`, file);
  }
  return { file, sha256: sha256File(file), bytes: statSync(file).size, platform };
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? listFiles(join(dir, entry.name)) : [join(dir, entry.name)]))
    .sort();
}

/** The test certificate of the fakes' https listeners (127.0.0.1), made once per process. */
let tls: TestTls | undefined;
export function testTls(): TestTls {
  tls ??= makeTestTls(["127.0.0.1"]);
  return tls;
}

/**
 * The fake Azure DevOps with this suite's PATs, pool and package; package downloads over https
 * (testTls()), as the image requires.
 */
export function startFake(pkg: AgentPackage, options: FakeAdoOptions = {}): Promise<FakeAdo> {
  return startFakeAdo({
    tls: { key: testTls().key, cert: testTls().cert },
    host: "127.0.0.1",
    pats: [PAT],
    expiredPats: [EXPIRED_PAT],
    pools: [POOL],
    packages: [{ version: AGENT_VERSION, platforms: ["linux-x64", "linux-arm64"], file: pkg.file }],
    messageHoldMs: 500,
    ...options,
  });
}

/** Hash of everything the image is built from (build context, build script, base, platform, package). */
async function imageInputsHash(pkg: AgentPackage, platform: ImagePlatform): Promise<string> {
  const hash = createHash("sha256");
  const context = repoPath("agent-image");
  const files = [...listFiles(context).filter((f) => !f.endsWith(".md")), repoPath("tools", "build-image.sh")];
  for (const file of files) hash.update(file).update(readFileSync(file));
  const base = await docker(["image", "inspect", "--format", "{{.Id}}", baseImageFor(platform)]);
  // The host platform adds nothing, so the tags of existing amd64 builds stay valid.
  hash.update(base.stdout.trim()).update(pkg.sha256).update(platform === HOST_PLATFORM ? "" : platform);
  return hash.digest("hex").slice(0, 16);
}

/**
 * tools/build-image.sh with the fake package baked in; reuses an identical earlier build.
 * `platform` other than this machine's builds on baseImageFor(platform) under emulation
 * (ensureMultiarch first).
 */
export async function buildTestImage(fake: FakeAdo, pkg: AgentPackage, pkgUrl?: string, platform: ImagePlatform = HOST_PLATFORM): Promise<string> {
  const tag = `local/azp-agent-test:${await imageInputsHash(pkg, platform)}`;
  if ((await docker(["image", "inspect", tag])).code === 0) return tag;
  const url = pkgUrl ?? `${fake.baseUrl}/_downloads/agent/${AGENT_VERSION}/vsts-agent-${pkg.platform}-${AGENT_VERSION}.tar.gz`;
  const args = [repoPath("tools", "build-image.sh"), "--tag", tag, "--base-image", baseImageFor(platform), "--platform", platform];
  args.push("--agent-package-url", url, "--agent-package-sha256", pkg.sha256);
  const r = await run("bash", args, { timeoutMs: 1_200_000 });
  if (r.code !== 0) throw new Error(`tools/build-image.sh failed (${r.code}):\n${r.output}`);
  if (r.stdout.trim() !== tag) throw new Error(`tools/build-image.sh printed '${r.stdout.trim()}', expected the tag ${tag}`);
  return tag;
}

export interface ImageTestEnv {
  readonly fake: FakeAdo;
  /** The CA file pods trust (the chart's caBundle) for the fakes' https listeners. */
  readonly caFile: string;
  readonly image: string;
  /** The image's architecture. */
  readonly platform: ImagePlatform;
  readonly pkg: AgentPackage;
  readonly poolId: number;
}

/**
 * Everything a test file needs; call in beforeAll, close `fake` in afterAll (or use useImageEnv
 * from ./hooks.ts). A `platform` other than this machine's brings up emulation and its base first.
 */
export async function setupImageEnv(options: FakeAdoOptions = {}, platform: ImagePlatform = HOST_PLATFORM): Promise<ImageTestEnv> {
  await (platform === HOST_PLATFORM ? ensureDocker() : ensureMultiarch());
  const pkg = await agentPackage(0, agentPlatforms[platform]);
  const fake = await startFake(pkg, options);
  const image = await buildTestImage(fake, pkg, undefined, platform);
  const poolId = fake.state().pools.find((p) => p.name === POOL)?.id;
  if (poolId === undefined) throw new Error(`the fake has no pool ${POOL}`);
  return { fake, caFile: testTls().certFile, image, platform, pkg, poolId };
}
