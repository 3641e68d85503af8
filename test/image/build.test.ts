import { existsSync, rmSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { release } from "../../generator/contract/release.ts";
import { repoPath } from "../support/repo.ts";
import { AGENT_VERSION, BASE_IMAGE, type ImageTestEnv } from "./support/environment.ts";
import { useImageEnv } from "./support/hooks.ts";
import { run } from "../support/process.ts";
import { dockerOk } from "./support/docker.ts";

/**
 * `npm run build`, the main job: the chart and the image in one command, with what the machine
 * lacks brought up (tools/build.sh). The real agent package cannot be downloaded here, so the
 * fake package stands in through the documented mirror variables.
 */

let env: ImageTestEnv;
useImageEnv((e) => (env = e));

const build = (args: string[], extraEnv: NodeJS.ProcessEnv): ReturnType<typeof run> =>
  run("npm", ["run", "-s", "build", "--", ...args], { env: { ...process.env, ...extraEnv }, timeoutMs: 1_200_000 });

describe("npm run build", () => {
  it("should package the chart and build the image from a mirrored agent package", async () => {
    const chart = repoPath("dist", `${release.chartName}-${release.chartVersion}.tgz`);
    rmSync(chart, { force: true });
    const url = `${env.fake.baseUrl}/_downloads/agent/${AGENT_VERSION}/vsts-agent-linux-x64-${AGENT_VERSION}.tar.gz`;
    const r = await build([], { AZP_AGENT_PACKAGE_URL: url, AZP_AGENT_PACKAGE_SHA256: env.pkg.sha256, AZP_BASE_IMAGE: BASE_IMAGE });
    expect(r.code, r.output.slice(-3000)).toBe(0);
    expect(existsSync(chart)).toBe(true);
    expect(r.stderr).toContain(`build: done: chart in dist/, image local/azp-agent:${release.imageTag}`);
    const labels = await dockerOk(["image", "inspect", "--format", "{{ index .Config.Labels \"io.github.azp-agent.agent.version\" }}", `local/azp-agent:${release.imageTag}`]);
    expect(labels).toBe(release.agentVersion);
  });

  it("should fail before building, naming the package URL and the mirror variables, when the agent package cannot be downloaded", async () => {
    const url = "http://127.0.0.1:9/vsts-agent-linux-x64.tar.gz";
    const r = await build([], { AZP_AGENT_PACKAGE_URL: url, AZP_AGENT_PACKAGE_SHA256: "0".repeat(64), AZP_BASE_IMAGE: BASE_IMAGE });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`build: error: the agent package ${url} cannot be downloaded from here (no internet access?)`);
    expect(r.stderr).toContain("AZP_AGENT_PACKAGE_URL=<url> AZP_AGENT_PACKAGE_SHA256=<its SHA-256 from the agent's release notes>");
    expect(r.stderr).not.toContain("building local/azp-agent");
  });

  it("should refuse an unknown argument with the usage", async () => {
    const r = await build(["--require-image"], {});
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("build: error: unknown argument '--require-image' (usage: npm run build [-- --chart-only])");
  });
});
