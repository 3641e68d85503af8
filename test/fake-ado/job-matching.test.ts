// Which agents match a job (demands vs capabilities), what happens to a job no agent can take,
// and the KEDA jobrequests forms seen by a counting helper (contract §3.9, §3.11, §5).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { demandsSatisfied, noAgentFoundMessage } from "./model.ts";
import { DEFAULT_WHEN_NO_AGENT_MATCHES, startFakeAdo, type FakeAdo } from "./server.ts";
import { createSpecValidator } from "./spec.ts";
import { API, basic, call, jobRequestPolls, list, obj, openSession, poll, registerAgent, type JobRequestPoll } from "./test-client.ts";
import { testPools } from "./test-pools.ts";

const PAT = "matching-pat-0123456789";
const AUTH = basic("", PAT);
const POOL = testPools.agents;
const spec = createSpecValidator();

let fake: FakeAdo;

beforeAll(async () => {
  fake = await startFakeAdo({ pats: [PAT], pools: [POOL, testPools.other], messageHoldMs: 100, whenNoAgentMatches: "fail" });
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => fake.reset());

async function agent(name: string, capabilities: Record<string, string> = {}): Promise<number> {
  return Number((await registerAgent(fake, 1, name, AUTH, undefined, capabilities)).agent["id"]);
}

async function disable(agentId: number): Promise<void> {
  const result = await call(fake, `/_apis/distributedtask/pools/1/agents/${agentId}`, { method: "PATCH", auth: AUTH, apiVersion: API.ga, json: { id: agentId, enabled: false } });
  expect(result.status).toBe(200);
}

async function jobRequests(query = ""): Promise<Record<string, unknown>[]> {
  const result = await call(fake, `/_apis/distributedtask/pools/1/jobrequests${query}`, { auth: AUTH });
  expect(result.status).toBe(200);
  return list(result.body);
}

async function enqueueOverHttp(poolId: number, body: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${fake.baseUrl}/_fake/pools/${poolId}/jobs`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  return { status: response.status, body: obj(await response.json()) };
}

describe("GIVEN a fake that refuses a job no agent of the pool can take, as Azure DevOps does", () => {
  it("should queue a job only an offline agent matches (KEDA's placeholder / parent agent)", async () => {
    // GIVEN a registered agent that never opened a session
    await agent("placeholder", { maven: "3.9" });
    // WHEN
    const answer = fake.enqueue(1, { script: "true", demands: ["maven"] });
    // THEN
    expect(answer).toMatchObject({ outcome: "queued", statusMessage: null, matchedAgents: ["placeholder"] });
    expect(fake.job(answer.requestIds[0] ?? 0)).toMatchObject({ state: "queued", result: null, statusMessage: null });
    const [queued] = await jobRequests();
    expect((queued?.["matchedAgents"] as Record<string, unknown>[]).map((a) => [a["name"], a["status"]])).toEqual([["placeholder", "offline"]]);
  });

  it("should queue a job only a disabled agent matches, and not give it to that agent", async () => {
    // GIVEN a disabled agent that is online and polling
    const id = await agent("disabled", { maven: "3.9" });
    await disable(id);
    const sessionId = String(obj((await openSession(fake, 1, id, AUTH)).body)["sessionId"]);
    // WHEN
    const answer = fake.enqueue(1, { script: "true", demands: ["maven"] });
    const polled = await poll(fake, 1, sessionId, AUTH);
    // THEN
    expect(answer).toMatchObject({ outcome: "queued", matchedAgents: ["disabled"] });
    expect(polled.status).toBe(202);
    expect(fake.job(answer.requestIds[0] ?? 0).state).toBe("queued");
    const [queued] = await jobRequests();
    expect((queued?.["matchedAgents"] as Record<string, unknown>[]).map((a) => [a["name"], a["enabled"]])).toEqual([["disabled", false]]);
  });

  it("should fail at once a job demanding a capability no agent has: finished, never assigned, with the service's message", async () => {
    // GIVEN an online, polling agent without maven
    const id = await agent("agent-a");
    const sessionId = String(obj((await openSession(fake, 1, id, AUTH)).body)["sessionId"]);
    // WHEN
    const answer = fake.enqueue(1, { script: "true", demands: ["maven", "Agent.Version -gtVersion 2.182.1"] });
    const polled = await poll(fake, 1, sessionId, AUTH);
    // THEN
    const message = `No agent found in pool ${testPools.agents} which satisfies the following demand: maven. All demands: maven, Agent.Version -gtVersion 2.182.1`;
    expect(answer).toEqual({ requestIds: [1], outcome: "failed", statusMessage: message, matchedAgents: [] });
    const view = fake.job(1);
    expect(view).toMatchObject({ state: "finished", result: "failed", statusMessage: message, agentId: null, agentName: null, assignTime: null, receiveTime: null });
    expect(view.finishTime).toBe(view.queueTime);
    expect(polled.status).toBe(202);
    const wire = obj((await call(fake, "/_apis/distributedtask/pools/1/jobrequests/1", { auth: AUTH })).body);
    spec.assertValid("TaskAgentJobRequest", wire);
    expect(wire).toMatchObject({ result: "failed", statusMessage: message, finishTime: wire["queueTime"], matchedAgents: [] });
    expect(wire).not.toHaveProperty("reservedAgent");
    expect(wire).not.toHaveProperty("assignTime");
  });

  it("should say so in the control endpoint's answer, and keep it failed when a matching agent comes later", async () => {
    // WHEN
    const answer = await enqueueOverHttp(1, { script: "true", demands: ["docker"], count: 2 });
    await agent("late", { docker: "27" });
    // THEN
    expect(answer.status).toBe(201);
    expect(answer.body).toEqual({
      requestIds: [1, 2],
      outcome: "failed",
      statusMessage: `No agent found in pool ${testPools.agents} which satisfies the following demand: docker. All demands: docker`,
      matchedAgents: [],
    });
    expect([fake.job(1).result, fake.job(2).result]).toEqual(["failed", "failed"]);
  });

  it("should fail a job without demands in a pool with no agents at all (the same failure)", async () => {
    // WHEN
    const answer = await enqueueOverHttp(2, { script: "true" });
    // THEN
    expect(answer.body).toMatchObject({ outcome: "failed", statusMessage: `No agent found in pool ${testPools.other} which satisfies the specified demands: (none)` });
    expect(fake.job(Number((answer.body["requestIds"] as number[])[0])).state).toBe("finished");
  });

  it("should use the 'specified demands' form when every demand is met by some agent but none meets all", async () => {
    // GIVEN
    await agent("java-only", { java: "21" });
    await agent("maven-only", { maven: "3.9" });
    // WHEN
    const answer = fake.enqueue(1, { script: "true", demands: ["java", "maven"] });
    // THEN
    expect(answer).toMatchObject({ outcome: "failed", statusMessage: `No agent found in pool ${testPools.agents} which satisfies the specified demands: java, maven` });
  });

  it.each([
    ["older than the agent", "Agent.Version -gtVersion 2.182.1", "queued"],
    ["the agent's own version (≥, not >)", "Agent.Version -gtVersion 4.264.2", "queued"],
    ["newer than the agent", "Agent.Version -gtVersion 4.264.3", "failed"],
  ] as const)("should match an Agent.Version -gtVersion demand %s as today", async (_name, demand, outcome) => {
    // GIVEN an agent of version 4.264.2 (registerAgent's Agent.Version)
    const id = await agent("versioned");
    const sessionId = String(obj((await openSession(fake, 1, id, AUTH)).body)["sessionId"]);
    // WHEN
    const answer = fake.enqueue(1, { script: "true", demands: [demand] });
    const polled = await poll(fake, 1, sessionId, AUTH);
    // THEN
    expect(answer.outcome).toBe(outcome);
    expect(polled.status).toBe(outcome === "queued" ? 200 : 202);
    if (outcome === "failed") expect(answer.statusMessage).toBe(`No agent found in pool ${testPools.agents} which satisfies the following demand: Agent.Version. All demands: ${demand}`);
  });

  it("should keep a queued job queued when its only matching agent is deleted later (the service waits for an agent or the timeout)", async () => {
    // GIVEN
    const id = await agent("gone-soon", { maven: "3.9" });
    const answer = fake.enqueue(1, { script: "true", demands: ["maven"] });
    // WHEN
    const deleted = await call(fake, `/_apis/distributedtask/pools/1/agents/${id}`, { method: "DELETE", auth: AUTH, apiVersion: API.ga });
    // THEN
    expect(deleted.status).toBe(204);
    expect(fake.job(answer.requestIds[0] ?? 0)).toMatchObject({ state: "queued", result: null });
    const [queued] = await jobRequests("?completedRequestCount=0");
    expect(queued).toMatchObject({ requestId: answer.requestIds[0], matchedAgents: [] });
  });

  it("should let one enqueue ask for the lenient 'queue' behaviour, and refuse an unknown mode", async () => {
    // WHEN
    const lenient = fake.enqueue(1, { script: "true", demands: ["maven"], whenNoAgentMatches: "queue" });
    const bad = await enqueueOverHttp(1, { script: "true", whenNoAgentMatches: "sometimes" });
    // THEN
    expect(lenient).toMatchObject({ outcome: "queued", statusMessage: null, matchedAgents: [] });
    expect(fake.job(lenient.requestIds[0] ?? 0).state).toBe("queued");
    expect(bad.status).toBe(400);
  });
});

describe("GIVEN the KEDA jobrequests forms with a refused job among them (§3.9)", () => {
  // A job the agent finished, a queued one (an offline agent matches) and a refused one.
  async function seed(): Promise<{ finished: number; queued: number; refused: number }> {
    const id = await agent("agent-1", { maven: "3.9" });
    const sessionId = String(obj((await openSession(fake, 1, id, AUTH)).body)["sessionId"]);
    const [finished = 0] = fake.enqueueJobs(1, { script: "true" });
    expect((await poll(fake, 1, sessionId, AUTH)).status).toBe(200);
    fake.completeJob(finished);
    await call(fake, `/_apis/distributedtask/pools/1/sessions/${sessionId}`, { method: "DELETE", auth: AUTH, apiVersion: API.sessions });
    const [queued = 0] = fake.enqueueJobs(1, { script: "true", demands: ["maven"] });
    const [refused = 0] = fake.enqueueJobs(1, { script: "true", demands: ["gradle"] });
    return { finished, queued, refused };
  }

  it("should leave matchedAgents out of every item with $top, finished ones included", async () => {
    const ids = await seed();
    const jobs = await jobRequests("?$top=250");
    expect(jobs.map((job) => job["requestId"])).toEqual([ids.refused, ids.queued, ids.finished]);
    for (const job of jobs) expect(job).not.toHaveProperty("matchedAgents");
  });

  it("should exclude finished requests, refused ones included, with completedRequestCount=0", async () => {
    const ids = await seed();
    const jobs = await jobRequests("?completedRequestCount=0");
    expect(jobs.map((job) => job["requestId"])).toEqual([ids.queued]);
    expect((jobs[0]?.["matchedAgents"] as Record<string, unknown>[]).map((a) => a["name"])).toEqual(["agent-1"]);
  });

  it("should return everything with matchedAgents without a query", async () => {
    const ids = await seed();
    const jobs = await jobRequests();
    expect(jobs.map((job) => [job["requestId"], job["result"] ?? null, "matchedAgents" in job])).toEqual([
      [ids.refused, "failed", true],
      [ids.queued, null, true],
      [ids.finished, "succeeded", true],
    ]);
  });
});

describe("GIVEN demands and capabilities (the SDK's Demand classes)", () => {
  const caps = { "Agent.Version": "4.264.2", "Agent.OS": "Linux", "Agent.Name": "pod-a", maven: "3.9", "node.js": "" };
  it.each([
    ["an exists demand, name in another case", ["MAVEN"], true],
    ["an exists demand for a capability with an empty value", ["node.js"], true],
    ["an exists demand nobody offers", ["gradle"], false],
    ["-equals, name and value in another case", ["agent.os -equals linux"], true],
    ["-equals with a different value", ["Agent.OS -equals Windows_NT"], false],
    ["-equals with the value in quotes (taken literally, azure-pipelines-agent#2996)", ["Agent.Name -equals 'pod-a'"], false],
    ["an operator in another case (the SDK's opcodes are case-sensitive)", ["Agent.OS -Equals Linux"], false],
    ["an operator the SDK does not know", ["Agent.OS -notequals Windows_NT"], false],
    ["-equals without a value", ["Agent.OS -equals "], false],
    ["a demand with a leading space", [" maven"], false],
    ["-gtVersion with a lower version", ["Agent.Version -gtVersion 2.182.1"], true],
    ["-gtVersion with the same version", ["Agent.Version -gtVersion 4.264.2"], true],
    ["-gtVersion with a higher version", ["Agent.Version -gtVersion 4.264.10"], false],
    ["-gtVersion ignoring a prerelease suffix", ["Agent.Version -gtVersion 4.264.2-rc1"], true],
    ["-gtVersion with more parts than the capability (3.9 < 3.9.0)", ["maven -gtVersion 3.9.0"], false],
    ["-gtVersion against a capability that is no version", ["Agent.OS -gtVersion 1.0"], false],
    ["several demands, one unmet", ["maven", "gradle"], false],
    ["no demands", [], true],
  ] as const)("should decide %s", (_name, demands, expected) => {
    expect(demandsSatisfied(caps, demands)).toBe(expected);
  });

  it("should let a user capability replace a system one of the same name in any case", async () => {
    // GIVEN an agent whose system capability says Linux and whose user capability says otherwise
    const id = await agent("relabelled");
    const patched = await call(fake, `/_apis/distributedtask/pools/1/agents/${id}`, { method: "PATCH", auth: AUTH, apiVersion: API.ga, json: { id, userCapabilities: { "agent.os": "Plan9" } } });
    expect(patched.status).toBe(200);
    // WHEN / THEN
    expect(fake.enqueue(1, { script: "true", demands: ["Agent.OS -equals Plan9"] }).outcome).toBe("queued");
    expect(fake.enqueue(1, { script: "true", demands: ["Agent.OS -equals Linux"] }).outcome).toBe("failed");
  });

  it("should name the first demand no agent meets on its own", () => {
    expect(noAgentFoundMessage("p", ["maven", "Agent.Name -equals x"], [{ maven: "1" }])).toBe("No agent found in pool p which satisfies the following demand: Agent.Name. All demands: maven, Agent.Name -equals x");
  });
});

describe("GIVEN the fake's default for a job no agent can take", () => {
  it("should fail it at once, as Azure DevOps does, unless that enqueue asks to keep it queued", async () => {
    expect(DEFAULT_WHEN_NO_AGENT_MATCHES).toBe("fail");
    const fake = await startFakeAdo({ pools: [POOL] });
    try {
      expect(fake.enqueue(1, { script: "true" }).outcome).toBe("failed");
      expect(fake.enqueue(1, { script: "true", whenNoAgentMatches: "queue" }).outcome).toBe("queued");
    } finally {
      await fake.close();
    }
  });
});

describe("GIVEN the scaler's job-request polls in the request log (jobRequestPolls)", () => {
  const get = (path: string, userAgent: string | undefined, auth = AUTH): Promise<unknown> =>
    call(fake, path, { auth, headers: userAgent === undefined ? {} : { "User-Agent": userAgent } });

  it("should count GET .../pools/{id}/jobrequests per form and per caller, with since and poolId", async () => {
    // GIVEN calls before the mark, which `since` leaves out
    await get("/_apis/distributedtask/pools/1/jobrequests?$top=250", "keda");
    const mark = fake.requests().at(-1)?.seq ?? 0;
    // WHEN
    await get("/_apis/distributedtask/pools/1/jobrequests?$top=250", "keda");
    await get("/_apis/distributedtask/pools/1/jobrequests?$top=250&completedRequestCount=0", "keda");
    await get("/_apis/distributedtask/pools/1/jobrequests?completedRequestCount=0", "keda");
    await get("/_apis/distributedtask/pools/1/jobrequests", "keda");
    await get("/_apis/distributedtask/pools/1/jobrequests?api-version=7.1-preview.1", "curl/8");
    await get("/_apis/distributedtask/pools/1/jobrequests?agentId=3", "curl/8");
    await get("/_apis/distributedtask/pools/2/jobrequests", "curl/8");
    await get("/_apis/distributedtask/pools/1/jobrequests?$top=10", "keda", basic("", "wrong-pat"));
    // not polls: one request, another resource
    await get("/_apis/distributedtask/pools/1/jobrequests/1", "keda");
    await get("/_apis/distributedtask/pools/1/agents", "keda");
    const all = jobRequestPolls(fake, mark);
    const pool1 = jobRequestPolls(fake.requests(), mark, 1);
    // THEN
    const shape = (polls: JobRequestPoll[]): [number, string, number | undefined, number][] => polls.map((p) => [p.poolId, p.caller, p.top, p.status]);
    expect(shape(all.byForm["$top"])).toEqual([
      [1, "keda", 250, 200],
      [1, "keda", 250, 200],
      [1, "keda", 10, 401],
    ]);
    expect(shape(all.byForm["completedRequestCount=0"])).toEqual([[1, "keda", undefined, 200]]);
    expect(shape(all.byForm.none)).toEqual([
      [1, "keda", undefined, 200],
      [1, "curl/8", undefined, 200],
      [2, "curl/8", undefined, 200],
    ]);
    expect(shape(all.byForm.other)).toEqual([[1, "curl/8", undefined, 200]]);
    expect(all.byCaller).toEqual({
      keda: { $top: 3, "completedRequestCount=0": 1, none: 1, other: 0 },
      "curl/8": { $top: 0, "completedRequestCount=0": 0, none: 2, other: 1 },
    });
    expect(all.polls.map((p) => p.seq)).toEqual([...all.polls.map((p) => p.seq)].sort((a, b) => a - b));
    expect(pool1.polls).toHaveLength(all.polls.length - 1);
    expect(pool1.byCaller["curl/8"]).toEqual({ $top: 0, "completedRequestCount=0": 0, none: 1, other: 1 });
  });

  it("should record the query string exactly as sent and the User-Agent in GET /_fake/requests", async () => {
    // WHEN
    await get("/_apis/distributedtask/pools/1/jobrequests?$top=250", "keda-operator/2.20");
    const logged = obj(await (await fetch(`${fake.baseUrl}/_fake/requests`)).json());
    // THEN
    expect(logged["value"]).toEqual([expect.objectContaining({ path: `/${fake.org}/_apis/distributedtask/pools/1/jobrequests?$top=250`, userAgent: "keda-operator/2.20" })]);
  });
});
