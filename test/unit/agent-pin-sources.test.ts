// The parsers of Microsoft's two hash publications, against recorded samples of each format
// (fixtures/agent-pin/README.md says where each came from). Expected hashes are typed as the
// samples show them, never recomputed.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { release } from "../../generator/contract/release.ts";
import { hashFromPackageMetadata } from "../../tools/pin-agent/package-metadata.ts";
import { PinError } from "../../tools/pin-agent/pin-error.ts";
import { DEFAULT_PIN_FILE, formatPin, parsePin } from "../../tools/pin-agent/pin-file.ts";
import { hashesFromReleaseNotes, parseGitHubRelease } from "../../tools/pin-agent/release-notes.ts";

const FIXTURES = new URL("./fixtures/agent-pin/", import.meta.url);
const text = (name: string): string => readFileSync(new URL(name, FIXTURES), "utf8");
const json = (name: string): unknown => JSON.parse(text(name));
const bodyOf = (name: string): string => (json(name) as { body: string }).body;

/** What Microsoft's release pipeline does to the template: version first, then the hash per package row. */
function fillTemplate(version: string, hashes: Record<string, string>): string {
  return text("releaseNote-template.md")
    .replaceAll("<AGENT_VERSION>", version)
    .split("\n")
    .map((line) => {
      const name = Object.keys(hashes).find((filename) => line.includes(`[${filename}]`));
      return name === undefined ? line : line.replace("<HASH>", hashes[name] ?? "");
    })
    .join("\n");
}

// Synthetic, and visibly so: only the format tests built from the template use them.
const ONES = "1".repeat(64);
const TWOS = "2".repeat(64);
const THREES = "3".repeat(64);
const FOURS = "4".repeat(64);

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(PinError);
    return (error as Error).message;
  }
  throw new Error("expected a PinError, got none");
}

describe("hashesFromReleaseNotes", () => {
  it("should read both linux hashes of the v4.269.0 notes (current format) literally", () => {
    // WHEN
    const hashes = hashesFromReleaseNotes(bodyOf("github-release-v4.269.0.json"), "4.269.0", "v4.269.0");
    // THEN
    expect(hashes).toEqual({
      "linux-x64": "b7bfdc699857e7e045345494eec7f89c81d870e469e7d6199b37d6bf1601d3cf",
      "linux-arm64": "78b4f4c05cf2a74ef6d136386427ef3bd80a36abf75832813a014e0362d3164d",
    });
  });

  it("should read the v3.212.0 notes, whose macOS arm64 row has '-' instead of a hash", () => {
    expect(hashesFromReleaseNotes(bodyOf("github-release-v3.212.0.json"), "3.212.0", "v3.212.0")).toEqual({
      "linux-x64": "4dabe39a24b161194c91d213dbe7c5b75131358338cbad9ef06c6cdaa830c339",
      "linux-arm64": "750981d11c4a3edb608f85cafb9e021a17f2c00f1278293f43df9c3dfa38179f",
    });
  });

  it("should take the vsts-agent rows and not the Alternate table's pipelines-agent rows under the same labels", () => {
    // GIVEN Microsoft's template filled for both tables, each package with its own hash
    const body = fillTemplate("4.264.2", {
      "vsts-agent-linux-x64-4.264.2.tar.gz": ONES,
      "vsts-agent-linux-arm64-4.264.2.tar.gz": TWOS,
      "pipelines-agent-linux-x64-4.264.2.tar.gz": THREES,
      "pipelines-agent-linux-arm64-4.264.2.tar.gz": FOURS,
    });
    // THEN
    expect(hashesFromReleaseNotes(body, "4.264.2", "release")).toEqual({ "linux-x64": ONES, "linux-arm64": TWOS });
  });

  it("should accept CRLF line ends, uppercase hex and a row listed twice with the same hash", () => {
    // GIVEN
    const body = fillTemplate("4.264.2", { "vsts-agent-linux-x64-4.264.2.tar.gz": "AB".repeat(32), "vsts-agent-linux-arm64-4.264.2.tar.gz": TWOS });
    const arm64Row = body.split("\n").find((line) => line.includes("[vsts-agent-linux-arm64-4.264.2.tar.gz]")) ?? "";
    // WHEN
    const hashes = hashesFromReleaseNotes(`${body}\n${arm64Row}`.replaceAll("\n", "\r\n"), "4.264.2", "release");
    // THEN
    expect(hashes).toEqual({ "linux-x64": "ab".repeat(32), "linux-arm64": TWOS });
  });

  const v4269 = bodyOf("github-release-v4.269.0.json");
  const x64Row = v4269.split("\n").find((line) => line.includes("[vsts-agent-linux-x64-4.269.0.tar.gz]")) ?? "";

  it.each<{ case: string; body: string; version: string; message: string }>([
    {
      case: "notes from before hashes were published (v2.169.1, no SHA-256 column)",
      body: bodyOf("github-release-v2.169.1.json"),
      version: "2.169.1",
      message: "release lists vsts-agent-linux-x64-2.169.1.tar.gz without a SHA-256 (its hash cell reads ''): Microsoft published no hash for it there.",
    },
    {
      case: "the template with its placeholders unfilled",
      body: fillTemplate("4.264.2", {}),
      version: "4.264.2",
      message: "release lists vsts-agent-linux-x64-4.264.2.tar.gz without a SHA-256 (its hash cell reads '<HASH>')",
    },
    {
      case: "a row the older fill script gave no hash ('undefined')",
      body: fillTemplate("4.264.2", { "vsts-agent-linux-x64-4.264.2.tar.gz": ONES, "vsts-agent-linux-arm64-4.264.2.tar.gz": "undefined" }),
      version: "4.264.2",
      message: "release lists vsts-agent-linux-arm64-4.264.2.tar.gz without a SHA-256 (its hash cell reads 'undefined')",
    },
    {
      case: "a hash one digit short",
      body: v4269.replace("b7bfdc699857e7e045345494eec7f89c81d870e469e7d6199b37d6bf1601d3cf", "b7bfdc699857e7e045345494eec7f89c81d870e469e7d6199b37d6bf1601d3c"),
      version: "4.269.0",
      message: "its hash cell reads 'b7bfdc699857e7e045345494eec7f89c81d870e469e7d6199b37d6bf1601d3c'",
    },
    {
      case: "no linux-arm64 row (the newer fill script drops rows it has no hash for)",
      body: v4269.split("\n").filter((line) => !line.includes("vsts-agent-linux-arm64-")).join("\n"),
      version: "4.269.0",
      message: "release lists no vsts-agent-linux-arm64-4.269.0.tar.gz: the release has no linux-arm64 package, or its notes changed format. Check https://github.com/microsoft/azure-pipelines-agent/releases/tag/v4.269.0",
    },
    {
      case: "notes of another version",
      body: v4269,
      version: "4.264.2",
      message: "release lists no vsts-agent-linux-x64-4.264.2.tar.gz",
    },
    {
      case: "two rows with different hashes for one package",
      body: `${v4269}\n${x64Row.replace("b7bfdc699857e7e045345494eec7f89c81d870e469e7d6199b37d6bf1601d3cf", ONES)}`,
      version: "4.269.0",
      message: `release lists vsts-agent-linux-x64-4.269.0.tar.gz with 2 different SHA-256 values (b7bfdc699857e7e045345494eec7f89c81d870e469e7d6199b37d6bf1601d3cf, ${ONES}): refusing to guess.`,
    },
    { case: "a body without any table", body: "## Features\n - nothing\n", version: "4.269.0", message: "release lists no vsts-agent-linux-x64-4.269.0.tar.gz" },
  ])("should refuse $case", ({ body, version, message }) => {
    expect(refusal(() => hashesFromReleaseNotes(body, version, "release"))).toContain(message);
  });
});

describe("parseGitHubRelease", () => {
  it("should read the recorded release object", () => {
    const release = parseGitHubRelease(json("github-release-v3.212.0.json"), "3.212.0", "file");
    expect(release).toMatchObject({ tagName: "v3.212.0", htmlUrl: "https://github.com/microsoft/azure-pipelines-agent/releases/tag/v3.212.0", prerelease: true });
  });

  it.each<{ case: string; input: unknown; message: string }>([
    { case: "the release of another version", input: json("github-release-v4.269.0.json"), message: "file is the release v4.269.0, not v4.264.2: pass the release of the version you pin" },
    { case: "an object without a body", input: { tag_name: "v4.264.2" }, message: "file is not a GitHub release object (no 'tag_name' or 'body' string): expected the JSON of GET /repos/microsoft/azure-pipelines-agent/releases/tags/v4.264.2" },
    { case: "a list", input: [], message: "file is not a GitHub release object: expected the JSON of GET /repos/microsoft/azure-pipelines-agent/releases/tags/v4.264.2" },
  ])("should refuse $case", ({ input, message }) => {
    expect(refusal(() => parseGitHubRelease(input, "4.264.2", "file"))).toBe(message);
  });
});

describe("hashFromPackageMetadata", () => {
  const sample = (platform: string): { count: number; value: Record<string, unknown>[] } => json(`packages-agent-${platform}-v4.269.0.json`) as never;

  it.each([
    { platform: "linux-x64" as const, hash: "b7bfdc699857e7e045345494eec7f89c81d870e469e7d6199b37d6bf1601d3cf" },
    { platform: "linux-arm64" as const, hash: "78b4f4c05cf2a74ef6d136386427ef3bd80a36abf75832813a014e0362d3164d" },
  ])("should read hashValue of the $platform package", ({ platform, hash }) => {
    expect(hashFromPackageMetadata(sample(platform), platform, "4.269.0", "service")).toBe(hash);
  });

  it("should compare as the agent's updater does: '-' and case ignored", () => {
    // GIVEN
    const list = sample("linux-x64");
    list.value[0] = { ...list.value[0], hashValue: "B7BFDC69-9857E7E0-45345494-EEC7F89C-81D870E4-69E7D619-9B37D6BF-1601D3CF" };
    // THEN
    expect(hashFromPackageMetadata(list, "linux-x64", "4.269.0", "service")).toBe("b7bfdc699857e7e045345494eec7f89c81d870e469e7d6199b37d6bf1601d3cf");
  });

  it("should pick the asked version out of a list that is newest first", () => {
    // GIVEN
    const list = sample("linux-x64");
    list.value.unshift({ ...list.value[0], version: { major: 4, minor: 270, patch: 0 }, hashValue: ONES });
    // THEN
    expect(hashFromPackageMetadata(list, "linux-x64", "4.269.0", "service")).toBe("b7bfdc699857e7e045345494eec7f89c81d870e469e7d6199b37d6bf1601d3cf");
  });

  it.each<{ case: string; edit: (list: { value: Record<string, unknown>[] }) => unknown; message: string }>([
    {
      case: "a package without hashValue (microsoft/azure-pipelines-agent#4380)",
      edit: (list) => ({ value: list.value.map(({ hashValue: _omitted, ...rest }) => rest) }),
      message: "service lists the linux-x64 agent 4.269.0 without a hashValue (the service omits it for some packages, microsoft/azure-pipelines-agent#4380)",
    },
    {
      case: "a version the service does not list",
      edit: (list) => ({ value: list.value.map((entry) => ({ ...entry, version: { major: 4, minor: 270, patch: 0 } })) }),
      message: "service offers no linux-x64 agent 4.269.0 (it lists: 4.270.0): the service lists only the versions it rolls out.",
    },
    {
      case: "a hashValue that is no SHA-256",
      edit: (list) => ({ value: list.value.map((entry) => ({ ...entry, hashValue: "d41d8cd98f00b204e9800998ecf8427e" })) }),
      message: "service lists the linux-x64 agent 4.269.0 with hashValue 'd41d8cd98f00b204e9800998ecf8427e', which is not a SHA-256",
    },
    {
      case: "two entries of the version with different hashValues",
      edit: (list) => ({ value: [...list.value, { ...list.value[0], hashValue: ONES }] }),
      message: "service lists the linux-x64 agent 4.269.0 with 2 different hashValues",
    },
    { case: "an error body instead of a list", edit: () => ({ message: "TF400813" }), message: 'service is not a package list (expected {"count":N,"value":[...]})' },
  ])("should refuse $case", ({ edit, message }) => {
    expect(refusal(() => hashFromPackageMetadata(edit(sample("linux-x64")), "linux-x64", "4.269.0", "service"))).toContain(message);
  });
});

describe("the pin file", () => {
  it("should hold what the contract exports, in the form the command writes", () => {
    // GIVEN the committed generator/contract/agent-pin.json
    const committed = readFileSync(DEFAULT_PIN_FILE, "utf8");
    const pin = parsePin(committed, "agent-pin.json");
    // THEN
    expect(pin.version).toBe(release.agentVersion);
    expect(pin.sha256).toEqual(release.agentPackageSha256);
    expect(formatPin(pin)).toBe(committed);
  });

  it.each<{ case: string; pin: unknown; message: string }>([
    { case: "a version with a leading v", pin: { version: "v4.269.0", sha256: { "linux-x64": "", "linux-arm64": "" }, sources: [] }, message: "f: 'version' must be major.minor.patch, got \"v4.269.0\"" },
    { case: "an uppercase hash", pin: { version: "4.269.0", sha256: { "linux-x64": "AB".repeat(32), "linux-arm64": "" }, sources: ["x"] }, message: "f: 'sha256.linux-x64' must be \"\" or a lowercase 64-hex SHA-256" },
    { case: "a missing platform", pin: { version: "4.269.0", sha256: { "linux-x64": ONES }, sources: ["x"] }, message: "f: 'sha256.linux-arm64' must be \"\" or a lowercase 64-hex SHA-256, got undefined" },
    { case: "a platform the image does not bake", pin: { version: "4.269.0", sha256: { "linux-x64": "", "linux-arm64": "", "win-x64": ONES }, sources: [] }, message: "f: 'sha256' has platforms the image does not bake (win-x64); only linux-x64, linux-arm64" },
    { case: "a hash without its source", pin: { version: "4.269.0", sha256: { "linux-x64": ONES, "linux-arm64": TWOS }, sources: [] }, message: "f: a recorded hash needs its source in 'sources'" },
  ])("should refuse $case", ({ pin, message }) => {
    expect(refusal(() => parsePin(JSON.stringify(pin), "f"))).toContain(message);
  });
});
