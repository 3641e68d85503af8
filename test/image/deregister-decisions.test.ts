import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { imageContract } from "../../generator/contract/image.ts";
import { startFakeAdo, type FakeAdo } from "../fake-ado/server.ts";
import { basic, registerAgent, takeNextJob } from "../fake-ado/test-client.ts";
import { bashWith, commandPath, q } from "./support/shell.ts";
import { testPools } from "../fake-ado/test-pools.ts";

/** The image's exit codes, as the contract defines them. */
const EXIT = imageContract.exitCodes;

/**
 * The deregister sidecar's decisions, one look at Azure DevOps at a time: its functions sourced
 * from the source tree and run against the in-process fake Azure DevOps. Whatever the hints in
 * the job-writable state volume say, the verdict follows what Azure DevOps says.
 * (The containers themselves: pod-lifecycle.test.ts and hostile-jobs.test.ts.)
 */

const PAT = "decisions-pat-0123456789";
const POOL = testPools.agents;
const { stateFiles } = imageContract;

let fake: FakeAdo;
let scratch: string;

beforeAll(async () => {
  fake = await startFakeAdo({ pats: [PAT], pools: [POOL, { name: "same-name-deploy", poolType: "deployment" }], messageHoldMs: 100 });
  scratch = mkdtempSync(join(tmpdir(), "azp-decisions-"));
});
afterAll(async () => {
  await fake.close();
  rmSync(scratch, { recursive: true, force: true });
});
beforeEach(() => fake.reset());

interface Look {
  verdict: string;
  request: string;
  /** What it logged on stdout (info) and stderr (warnings, errors). */
  log: string;
  stderr: string;
}

/** One `deregister_check` with the given hints present and what the sidecar knew before. */
async function look(agentId: number, options: { name?: string; hints?: string[]; knownRequest?: string; tmp?: string; url?: string } = {}): Promise<Look> {
  const state = mkdtempSync(join(scratch, "state-"));
  const tmp = options.tmp ?? mkdtempSync(join(scratch, "tmp-"));
  for (const hint of options.hints ?? []) writeFileSync(join(state, hint), "");
  const script = [
    `log_init azp-deregister; ado_init ${q(options.url ?? fake.url)}; COMMON_TOKEN=${q(PAT)}`,
    `AZP_PATH_STATE=${q(state)}; AZP_PATH_TMP=${q(tmp)}`,
    `DEREGISTER_POOL_ID=1; DEREGISTER_AGENT_ID=${agentId}; DEREGISTER_AGENT_NAME=${q(options.name ?? "pod-a")}; DEREGISTER_REQUEST=${q(options.knownRequest ?? "")}`,
    `deregister_hints hints; deregister_check "$hints"`,
    `printf '%s|%s\\n' "$DEREGISTER_VERDICT" "$DEREGISTER_REQUEST"`,
  ].join("\n");
  const r = await bashWith([commandPath("azp-deregister")], script);
  const lines = r.stdout.trim().split("\n");
  const [verdict = "", request = ""] = (lines.at(-1) ?? "").split("|");
  return { verdict, request, stderr: r.stderr, log: lines.slice(0, -1).join("\n") };
}

const agentId = async (name = "pod-a"): Promise<number> => Number((await registerAgent(fake, 1, name, basic("", PAT))).agent["id"]);
const enabledOf = (id: number): boolean | undefined => fake.state().agents.find((a) => a.id === id)?.enabled;

describe("the sidecar's look at its agent", () => {
  it("should wait while the agent is idle, and leave it enabled", async () => {
    const id = await agentId();
    expect(await look(id)).toMatchObject({ verdict: "wait", request: "" });
    expect(enabledOf(id)).toBe(true);
  });

  it("should disable the agent as soon as Azure DevOps shows a job assigned to it, and keep waiting", async () => {
    // GIVEN a job assigned to pod-a (an agent taking it over REST)
    const taken = await takeNextJob(fake, 1, "pod-a", basic("", PAT), { enqueue: { script: "true" } });
    // WHEN
    const result = await look(taken.agentId);
    // THEN
    expect(result).toMatchObject({ verdict: "wait", request: String(taken.requestId) });
    expect(enabledOf(taken.agentId)).toBe(false);
    expect(result.stderr).toBe("");
    expect(result.log).toContain(`disabled agent ${taken.agentId} in pool 1: it finishes job request ${taken.requestId} and gets no other`);
    const patch = fake.requests().find((r) => r.method === "PATCH" && r.path.includes(`/agents/${taken.agentId}`));
    expect(patch?.path).toContain("api-version=7.1");
    expect(patch?.status).toBe(200);
  });

  it("should hand no second job to a disabled agent while it finishes its first (a listener started from stolen files included)", async () => {
    const taken = await takeNextJob(fake, 1, "pod-a", basic("", PAT), { enqueue: { script: "true" } });
    await look(taken.agentId);
    // WHEN the first job finishes and a second one is queued
    const [second] = fake.enqueueJobs(1, { script: "true" });
    fake.completeJob(taken.requestId);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // THEN the second stays queued: the pool has no enabled agent
    expect(fake.job(second ?? 0).state).toBe("queued");
  });

  it.each([
    ["the sidecar saw the job", true],
    ["the sidecar restarted and only Azure DevOps remembers (lastCompletedRequest)", false],
  ])("should remove the agent once its job is over: %s", async (_name, known) => {
    const taken = await takeNextJob(fake, 1, "pod-a", basic("", PAT), { enqueue: { script: "true" } });
    fake.completeJob(taken.requestId);
    const result = await look(taken.agentId, known ? { knownRequest: String(taken.requestId) } : {});
    expect(result.verdict).toBe("remove");
  });

  it("should keep waiting while the job runs whatever hints the job forged (exited, no job-running)", async () => {
    const taken = await takeNextJob(fake, 1, "pod-a", basic("", PAT), { enqueue: { script: "true" } });
    expect((await look(taken.agentId, { hints: [stateFiles.exited, stateFiles.started], knownRequest: String(taken.requestId) })).verdict).toBe("wait");
  });

  it("should remove an idle agent whose listener exited without a job (the hint is ours: no job has run)", async () => {
    const id = await agentId();
    expect((await look(id, { hints: [stateFiles.started, stateFiles.exited] })).verdict).toBe("remove");
  });

  it("should report an agent Azure DevOps no longer has as gone", async () => {
    expect((await look(999)).verdict).toBe("gone");
  });

  it("should leave alone an agent whose id now names another agent", async () => {
    const id = await agentId("someone-else");
    const result = await look(id);
    expect(result.verdict).toBe("foreign");
    expect(result.stderr).toContain(`agent ${id} in pool 1 is named 'someone-else', not 'pod-a': leaving it alone`);
  });

  it("should disable the agent even when it cannot keep a note in its private /tmp (a full disk)", async () => {
    const taken = await takeNextJob(fake, 1, "pod-a", basic("", PAT), { enqueue: { script: "true" } });
    const result = await look(taken.agentId, { tmp: join(scratch, "no-such-dir") });
    expect(result).toMatchObject({ verdict: "wait", request: String(taken.requestId) });
    expect(enabledOf(taken.agentId)).toBe(false);
    expect(result.stderr).toContain(`could not keep job request ${taken.requestId}`);
  });

  it.each([
    ["an empty body", ""],
    ["an empty object", "{}"],
    ["not an object", "[1,2]"],
  ])("should decide nothing on a 200 with %s (a proxy's or a degraded service's answer)", async (_name, body) => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { "Content-Type": "application/json; charset=utf-8" });
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const result = await look(7, { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/fakeorg` });
      expect(result.verdict).toBe("error");
      expect(result.stderr).toContain("answered the look at agent 7 with no usable agent");
    } finally {
      server.close();
    }
  });

  it("should leave an idle agent someone disabled by hand where it is", async () => {
    const id = await agentId();
    fake.model.updateAgent(1, id, { enabled: false });
    expect((await look(id)).verdict).toBe("wait");
  });
});

describe("finding the agent", () => {
  it("should look up the automation pool by name and the agent by the pod's name", async () => {
    const id = await agentId("pod-b");
    const r = await bashWith(
      [commandPath("azp-deregister")],
      `log_init d; ado_init ${q(fake.url)}; COMMON_TOKEN=${q(PAT)}; deregister_find_agent 1 ${q(POOL)} pod-b; echo "$DEREGISTER_POOL_ID/$DEREGISTER_AGENT_ID"`,
    );
    expect(r.stdout).toBe(`1/${id}\n`);
    const lookup = fake.requests().find((e) => e.path.includes("/pools?"));
    expect(lookup?.path).toBe(`/${fake.org}/_apis/distributedtask/pools?poolName=${POOL}&poolType=Automation&api-version=7.1`);
  });

  it("should never take a deployment pool of that name for the agents' pool", async () => {
    const r = await bashWith([commandPath("azp-deregister")], `log_init d; ado_init ${q(fake.url)}; COMMON_TOKEN=${q(PAT)}; deregister_find_agent 1 same-name-deploy pod-b`);
    expect(r.code).toBe(EXIT.rejected);
    expect(r.stderr).toContain("agent pool 'same-name-deploy' (AZP_POOL) was not found");
  });
});

describe("removing the agent", () => {
  it("should retry while Azure DevOps says the agent is busy (a job assigned in between), and remove it once the job is over", async () => {
    // GIVEN an agent that took a job (the sidecar decided to remove it a moment before)
    const taken = await takeNextJob(fake, 1, "pod-a", basic("", PAT), { enqueue: { script: "true" } });
    const state = mkdtempSync(join(scratch, "state-"));
    const tmp = mkdtempSync(join(scratch, "tmp-"));
    const token = join(scratch, "token");
    writeFileSync(token, PAT);
    // WHEN removal starts, and the job finishes 2 s later
    const removal = bashWith(
      [commandPath("azp-deregister")],
      [
        `log_init azp-deregister; ado_init ${q(fake.url)}; COMMON_TOKEN=${q(PAT)}`,
        `AZP_PATH_STATE=${q(state)}; AZP_PATH_TMP=${q(tmp)}`,
        `DEREGISTER_POOL_ID=1; DEREGISTER_AGENT_ID=${taken.agentId}; DEREGISTER_AGENT_NAME=pod-a`,
        `deregister_remove AZP_TOKEN_FILE ${q(token)} 1; echo removed`,
      ].join("\n"),
    );
    await new Promise((resolve) => setTimeout(resolve, 2000));
    fake.completeJob(taken.requestId);
    const r = await removal;
    // THEN refused while busy, then removed exactly once
    expect(r.stdout).toContain("removed\n");
    expect(r.stderr).toContain("the agent is still running a job");
    const deletes = fake.requests().filter((e) => e.method === "DELETE" && e.path.includes("/agents/"));
    expect(deletes.length).toBeGreaterThanOrEqual(2);
    expect(deletes.slice(0, -1).every((e) => e.status === 400)).toBe(true);
    expect(deletes.at(-1)?.status).toBe(204);
    expect(fake.state().agents).toEqual([]);
  });
});

