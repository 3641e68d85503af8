// The spec helper itself: swagger 2.0 definitions → JSON Schema, the documented wire differences,
// and a real captured payload (KEDA's fixture, contract §3.9) as ground truth.
import { describe, expect, it } from "vitest";
import { WIRE_DIFFERENCES, adoSpecPath, createSpecValidator, loadAdoSpec, toJsonSchemaDefinitions } from "./spec.ts";
import { testPools } from "./test-pools.ts";

// The queued job request from kedacore/keda pkg/scalers/azure_pipelines_scaler_test.go:61 — a
// real service payload quoted in contract §3.9.
const KEDA_QUEUED_REQUEST = {
  requestId: 890663,
  queueTime: "2022-09-28T11:20:22.4633333Z",
  serviceOwner: "00025394-6065-48ca-87d9-7f5672854ef7",
  hostId: "41a18c7d-df5e-4032-a4df-d533b56bd2de",
  scopeId: "02696e26-a35b-424c-86b8-1f54e1b0b4b7",
  planType: "Build",
  planId: "b718cfed-493c-46be-a650-88fe762f75aa",
  jobId: "15b95994-59ec-5502-695d-0b93722883bd",
  demands: ["dotnet60", "java", "cmake", "Agent.Version -gtVersion 2.182.1"],
  matchedAgents: [
    {
      _links: {
        self: { href: "https://dev.azure.com/FOO/_apis/distributedtask/pools/44/agents/1755" },
        web: { href: "https://dev.azure.com/FOO/_settings/agentpools?view=jobs&poolId=44&agentId=1755" },
      },
      id: 1755,
      name: "dotnet60-keda-template",
      version: "2.210.1",
      enabled: true,
      status: "offline",
      provisioningState: "Provisioned",
    },
  ],
  definition: { _links: { web: { href: "https://dev.azure.com/FOO/x/_build/definition?definitionId=3129" }, self: { href: "https://dev.azure.com/FOO/x/_apis/build/Definitions/3129" } }, id: 3129, name: "Other Build CI" },
  owner: { _links: { web: { href: "https://dev.azure.com/FOO/x/_build/results?buildId=673585" }, self: { href: "https://dev.azure.com/FOO/x/_apis/build/Builds/673585" } }, id: 673585, name: "20220928.11" },
  data: { ParallelismTag: "Private", IsScheduledKey: "False" },
  poolId: 44,
  orchestrationId: "b718cfed-493c-46be-a650-88fe762f75aa.buildtest.build_and_test.__default",
  priority: 0,
};

describe("GIVEN the ADO REST spec taskAgent-7.1.json", () => {
  it("should be found beside the checkout (or through ADO_SPEC) and parse despite its BOM", () => {
    // WHEN
    const spec = loadAdoSpec();
    // THEN
    expect(adoSpecPath()).toMatch(/ado-spec[/\\]taskAgent-7\.1\.json$/);
    expect(spec.swagger).toBe("2.0");
    expect(Object.keys(spec.definitions)).toEqual(expect.arrayContaining(["TaskAgentPool", "TaskAgent", "TaskAgentJobRequest", "PackageMetadata", "TaskAgentSession"]));
  });

  it("should rewrite #/definitions refs, drop x-ms-* keys and flatten inheritance when closed", () => {
    // WHEN
    const definitions = toJsonSchemaDefinitions(loadAdoSpec());
    const text = JSON.stringify(definitions);
    // THEN
    expect(text).not.toMatch(/"x-ms-/);
    expect(text).not.toMatch(/"\$ref":"#\/definitions\//);
    const agent = definitions["TaskAgent"] ?? {};
    expect(agent["allOf"]).toBeUndefined();
    expect(agent["additionalProperties"]).toBe(false);
    // inherited from TaskAgentReference
    expect(Object.keys(agent["properties"] as object)).toEqual(expect.arrayContaining(["name", "status", "assignedRequest", "authorization"]));
  });

  it.each(WIRE_DIFFERENCES.map((difference) => [`${difference.definition}.${difference.property}`, difference.why]))(
    "should document why %s differs on the wire",
    (_property, why) => {
      // THEN
      expect(why.length).toBeGreaterThan(20);
    },
  );

  it("should accept KEDA's captured job request only with the documented demands difference applied", () => {
    // GIVEN
    const raw = createSpecValidator({ wire: false, closed: false });
    const wire = createSpecValidator();
    // WHEN
    const rawErrors = raw.errors("TaskAgentJobRequest", KEDA_QUEUED_REQUEST);
    const wireErrors = wire.errors("TaskAgentJobRequest", KEDA_QUEUED_REQUEST);
    // THEN the swagger types demands as Demand objects; the wire (and KEDA) uses strings
    expect(rawErrors).toEqual(expect.arrayContaining(["/demands/0 must be object"]));
    expect(wireErrors).toEqual([]);
  });

  it.each([
    ["an empty date (KEDA cannot parse it)", { queueTime: "" }, '/queueTime must match format "date-time"'],
    ["a misspelt property", { recieveTime: "2022-09-28T11:20:22Z" }, "/ must NOT have additional properties 'recieveTime'"],
    ["a result outside TaskResult", { result: "Succeeded" }, "/result must be equal to one of the allowed values"],
    ["a planId that is not a uuid", { planId: "plan-1" }, '/planId must match format "uuid"'],
    ["demand objects", { demands: [{ name: "maven" }] }, "/demands/0 must be string"],
  ])("should reject a job request with %s", (_name, change, message) => {
    // GIVEN
    const validator = createSpecValidator();
    // WHEN
    const errors = validator.errors("TaskAgentJobRequest", { ...KEDA_QUEUED_REQUEST, ...change });
    // THEN
    expect(errors).toContain(message);
  });

  it("should accept the nullable pool fields real pool responses carry", () => {
    // GIVEN
    const validator = createSpecValidator();
    // WHEN
    const errors = validator.errors("TaskAgentPool", { id: 12, name: testPools.agents, poolType: "automation", targetSize: null, agentCloudId: null, properties: {} });
    // THEN
    expect(errors).toEqual([]);
  });
});
