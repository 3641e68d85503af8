import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { imageContract } from "../../generator/contract/image.ts";
import { ciScenario } from "../support/chart.ts";
import { NAMESPACE, RELEASE, render } from "../support/helm.ts";
import { containerNamed, parseDocuments, podSpecOf, Rendering } from "../support/manifests.ts";
import { runOk } from "../support/process.ts";
import { CHART_PATH } from "../support/repo.ts";
import { tool } from "../support/tools.ts";
import { type JsonObject } from "../support/values.ts";

/**
 * `registrarResources` was renamed `registrationResources` (issue #12: a coined word). For one
 * release the old key still works: the schema accepts it, the containers it sized take it
 * when it is set (over the new key), and NOTES.txt warns, naming the new key.
 */

const { containers } = imageContract;
const base = ciScenario("defaults");
const OLD = { requests: { cpu: "20m", memory: "48Mi" }, limits: { memory: "256Mi" } };
const NEW = { requests: { cpu: "30m", memory: "64Mi" }, limits: { memory: "192Mi" } };
/** The chart's default of registrationResources (values.yaml). */
const DEFAULT = { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } };
const WARNING = "WARNING: registrarResources is deprecated: rename it to registrationResources in your values (the same setting). It is still used for now; a later release ignores it.";

/** The resources of every container the key sizes, and of one it does not (the job container). */
function resourcesOf(values: JsonObject): Record<string, unknown> {
  const deployment = new Rendering(render({ valuesFiles: [base.file], values: [values] }));
  const autoscaled = new Rendering(render({ valuesFiles: [base.file], values: [values, { autoscaling: { enabled: true } }] }));
  const agentPod = podSpecOf(deployment.one("Deployment"));
  return {
    register: containerNamed(agentPod, containers.register).resources,
    deregister: containerNamed(agentPod, containers.deregister).resources,
    smoke: containerNamed(podSpecOf(deployment.one("Pod")), containers.smoke).resources,
    placeholder: autoscaled.all("Job").map((job) => containerNamed(podSpecOf(job), containers.placeholder).resources),
    agent: containerNamed(agentPod, containers.agent).resources,
  };
}

const sized = (resources: object): Record<string, unknown> => ({ register: resources, deregister: resources, smoke: resources, placeholder: [resources, resources], agent: {} });

describe("registrationResources and its old name registrarResources", () => {
  it.each<{ case: string; values: JsonObject; expected: Record<string, unknown> }>([
    { case: "neither", values: {}, expected: sized(DEFAULT) },
    { case: "registrationResources", values: { registrationResources: NEW }, expected: sized(NEW) },
    { case: "registrarResources (deprecated)", values: { registrarResources: OLD }, expected: sized(OLD) },
    { case: "both: the old key, as before the rename", values: { registrationResources: NEW, registrarResources: OLD }, expected: sized(OLD) },
  ])("should size register, deregister, the test pod and the placeholder hooks by $case", ({ values, expected }) => {
    expect(resourcesOf(values)).toEqual(expected);
  });
});

describe("NOTES.txt", () => {
  // Helm renders NOTES.txt only at install; `tpl` in a throw-away copy of the chart renders the
  // same text with Helm's own engine, without a cluster.
  const dir = mkdtempSync(join(tmpdir(), "azp-notes-"));
  const chart = join(dir, "azp-agent");
  cpSync(CHART_PATH, chart, { recursive: true });
  cpSync(join(chart, "templates", "NOTES.txt"), join(chart, "notes.txt"));
  writeFileSync(
    join(chart, "templates", "zz-notes.yaml"),
    ["apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: notes", "data:", '  notes: {{ tpl (.Files.Get "notes.txt") . | quote }}', ""].join("\n"),
  );
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function notes(values: JsonObject): Promise<string> {
    const args = ["template", RELEASE, chart, "--namespace", NAMESPACE, "--values", base.file, "--values", "-", "--show-only", "templates/zz-notes.yaml"];
    const out = await runOk(tool("helm"), args, { input: JSON.stringify(values) });
    const [doc] = parseDocuments(out);
    return String((doc?.["data"] as { notes?: unknown } | undefined)?.notes);
  }

  it("should warn about registrarResources, naming registrationResources, when it is set", async () => {
    expect(await notes({ registrarResources: OLD })).toContain(WARNING);
  });

  it.each<{ case: string; values: JsonObject }>([
    { case: "neither key", values: {} },
    { case: "only registrationResources", values: { registrationResources: NEW } },
  ])("should not warn with $case", async ({ values }) => {
    const text = await notes(values);
    expect(text).toContain(`is installed as release "${RELEASE}"`);
    expect(text).not.toContain("deprecated");
  });
});
