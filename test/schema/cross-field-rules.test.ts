import { describe, expect, it } from "vitest";
import { crossFieldRules, type CrossFieldRule } from "../../generator/templates/helpers.ts";
import { ciScenario } from "../support/chart.ts";
import { failMessage, helmTemplate } from "../support/helm.ts";
import { chartSchemaValidator } from "../support/schema.ts";
import { mergeValues, modelDefaults, type JsonObject } from "../support/values.ts";

/**
 * Rules the schema cannot express (generator/templates/helpers.ts `crossFieldRules`): the schema
 * accepts these inputs, and `helm template` fails with exactly the rule's message.
 */

const base = ciScenario("defaults");
const entra = { tenantId: "11111111-2222-3333-4444-555555555555", clientId: "99999999-2222-3333-4444-555555555555" };
const validate = chartSchemaValidator();
const rules = crossFieldRules();

/** The one rule whose message starts with `prefix` (throws if none or several). */
function rule(prefix: string): CrossFieldRule {
  const found = rules.filter((r) => r.message.startsWith(prefix));
  if (found.length !== 1) throw new Error(`${found.length} cross-field rules start with "${prefix}"`);
  return found[0] as CrossFieldRule;
}

const violations: { case: string; values: JsonObject; rule: CrossFieldRule; name?: string }[] = [
  { case: "neither token nor existingSecret", values: { azp: { token: "" } }, rule: rule("azp.token or azp.existingSecret is required") },
  { case: "both token and existingSecret", values: { azp: { existingSecret: "team-pat" } }, rule: rule("azp.token and azp.existingSecret are both set") },
  { case: "no organization URL", values: { azp: { url: "" } }, rule: rule("azp.url is required") },
  { case: "serviceAccount.create=false without a name", values: { serviceAccount: { create: false } }, rule: rule("serviceAccount.name is required") },
  { case: "refresh.serviceAccount.create=false without a name", values: { refresh: { serviceAccount: { create: false } } }, rule: rule("refresh.serviceAccount.name is required") },
  { case: "gc.serviceAccount.create=false without a name", values: { gc: { serviceAccount: { create: false } } }, rule: rule("gc.serviceAccount.name is required") },
  { case: "a maximum lifetime of 30 seconds", values: { agent: { maxLifetimeSeconds: 30 } }, rule: rule("agent.maxLifetimeSeconds must be 0 (off) or at least 60") },
  { case: "a packageUrl with the baked source", values: { agent: { packageUrl: "https://mirror.example.com/agent.tar.gz" } }, rule: rule("agent.packageUrl only applies") },
  {
    case: "a package mirror without its hash",
    values: { agent: { source: "download", packageUrl: "https://mirror.example.com/agent.tar.gz" } },
    rule: rule("agent.packageSha256 is required with"),
  },
  { case: "a package hash without a mirror", values: { agent: { source: "download", packageSha256: "ab".repeat(32) } }, rule: rule("agent.packageSha256 only applies") },
  { case: "namespace.create without a name", values: { namespace: { create: true } }, rule: rule("namespace.name is required") },
  { case: "an Entra mode with a PAT still set", values: { azp: { auth: "workloadIdentity", entra: entra } }, rule: rule("azp.token and azp.existingSecret hold a PAT") },
  { case: "an Entra mode without a tenant", values: { azp: { token: "", auth: "workloadIdentity", entra: { clientId: entra.clientId } } }, rule: rule("azp.entra.tenantId is required") },
  { case: "an Entra mode without a client id", values: { azp: { token: "", auth: "servicePrincipal", entra: { tenantId: entra.tenantId, clientSecret: "s" } } }, rule: rule("azp.entra.clientId is required") },
  { case: "a service principal without its secret", values: { azp: { token: "", auth: "servicePrincipal", entra } }, rule: rule("azp.entra.clientSecret or azp.entra.existingSecret is required") },
  {
    case: "a service principal with both a secret and an existing Secret",
    values: { azp: { token: "", auth: "servicePrincipal", entra: { ...entra, clientSecret: "s", existingSecret: "sp-secret" } } },
    rule: rule("azp.entra.clientSecret and azp.entra.existingSecret are both set"),
  },
  {
    case: "a client secret with workload identity",
    values: { azp: { token: "", auth: "workloadIdentity", entra: { ...entra, clientSecret: "s" } } },
    rule: rule("azp.entra.clientSecret and azp.entra.existingSecret apply only with"),
  },
  {
    case: "autoscaling with a service principal",
    values: { autoscaling: { enabled: true }, azp: { token: "", auth: "servicePrincipal", entra: { ...entra, clientSecret: "s" } } },
    rule: rule("autoscaling.enabled does not work with azp.auth=servicePrincipal"),
  },
  {
    case: "the own-pod deletion policy with agents and collector sharing a ServiceAccount",
    values: { admissionPolicy: { enabled: true }, serviceAccount: { create: false, name: "shared" }, gc: { serviceAccount: { create: false, name: "shared" } } },
    rule: rule("serviceAccount.name and gc.serviceAccount.name name the same ServiceAccount"),
  },
  { case: "autoscaling with minReplicas above maxReplicas", values: { autoscaling: { enabled: true, minReplicas: 5, maxReplicas: 3 } }, rule: rule("autoscaling.minReplicas is greater than") },
  {
    case: "autoscaling with a comma in a capability",
    values: { autoscaling: { enabled: true }, agent: { capabilities: { java: "17", tools: "docker,helm" } } },
    rule: rule("agent.capabilities has a comma in the value of"),
    name: "tools",
  },
  {
    case: "autoscaling with two capability names that differ only in case",
    values: { autoscaling: { enabled: true }, agent: { capabilities: { java: "17", Team: "a", TEAM: "b" } } },
    rule: rule("agent.capabilities has %s and another name that differs only in case"),
    name: "TEAM",
  },
  // Would replace the release identity helm test counts agents by.
  { case: "a capability named AZP_RELEASE", values: { agent: { capabilities: { java: "17", AZP_RELEASE: "x/y" } } }, rule: rule("agent.capabilities has the reserved name"), name: "AZP_RELEASE" },
  { case: "an extra variable named AZP_WORK", values: { extraEnv: [{ name: "GOFLAGS", value: "-mod=mod" }, { name: "AZP_WORK", value: "/tmp/w" }] }, rule: rule("extraEnv has the reserved name"), name: "AZP_WORK" },
];

const validCombinations: { case: string; values: JsonObject }[] = [
  { case: "existingSecret instead of token", values: { azp: { token: "", existingSecret: "team-pat" } } },
  { case: "existingSecret with its own key", values: { azp: { token: "", existingSecret: "team-pat", existingSecretKey: "pat" } } },
  { case: "serviceAccount.create=false with a name", values: { serviceAccount: { create: false, name: "agents" } } },
  { case: "refresh.serviceAccount.create=false with a name", values: { refresh: { serviceAccount: { create: false, name: "refresher" } } } },
  { case: "refresh.serviceAccount.create=false with the refresher off", values: { refresh: { enabled: false, serviceAccount: { create: false } } } },
  {
    case: "a package mirror with its hash and the download source",
    values: { agent: { source: "download", packageUrl: "https://mirror.example.com/agent.tar.gz", packageSha256: "AB-".repeat(21) + "ab" } },
  },
  { case: "namespace.create with a name", values: { namespace: { create: true, name: "agents" } } },
  { case: "a service principal with its secret", values: { azp: { token: "", auth: "servicePrincipal", entra: { ...entra, clientSecret: "s" } } } },
  { case: "a service principal with an existing Secret", values: { azp: { token: "", auth: "servicePrincipal", entra: { ...entra, existingSecret: "sp-secret" } } } },
  { case: "a workload identity", values: { azp: { token: "", auth: "workloadIdentity", entra } } },
  { case: "autoscaling with a workload identity", values: { autoscaling: { enabled: true }, azp: { token: "", auth: "workloadIdentity", entra } } },
  { case: "minReplicas above maxReplicas without autoscaling", values: { autoscaling: { minReplicas: 5, maxReplicas: 3 } } },
  { case: "a comma in a capability without autoscaling", values: { agent: { capabilities: { tools: "docker,helm" } } } },
  { case: "capability names differing only in case without autoscaling", values: { agent: { capabilities: { Team: "a", TEAM: "b" } } } },
  { case: "a namespace name without creating it", values: { namespace: { name: "agents" } } },
  { case: "capabilities and extra variables with their own names", values: { agent: { capabilities: { java: "17", AZP_RELEASE_TRAIN: "q3" } }, extraEnv: [{ name: "GOFLAGS", value: "-mod=mod" }] } },
];

describe("cross-field rules", () => {
  it("should have a violating case for every rule", () => {
    expect(new Set(violations.map((v) => v.rule)).size).toBe(rules.length);
  });

  it.each(violations)("should accept $case in the schema (only the template can tell)", ({ values }) => {
    expect(validate(mergeValues(modelDefaults(), base.values, values)), JSON.stringify(validate.errors)).toBe(true);
  });

  it.each(violations)("should fail helm template on $case with exactly the rule's message", ({ values, rule: expected, name }) => {
    // GIVEN valid defaults with one rule broken  WHEN Helm renders
    const r = helmTemplate({ valuesFiles: [base.file], values: [values] });
    // THEN it fails with that rule's message (naming the offending key) and nothing else
    expect(r.status, r.output).not.toBe(0);
    expect(failMessage(r.stderr)).toBe(name === undefined ? expected.message : expected.message.replace("%s", name));
  });

  it.each(validCombinations)("should render $case", ({ values }) => {
    const r = helmTemplate({ valuesFiles: [base.file], values: [values] });
    expect(r.status, r.output).toBe(0);
  });

  it.each(rules.map((r) => ({ message: r.message })))("should name a value and its fix in: $message", ({ message }) => {
    expect(message).toMatch(/^[a-z][A-Za-z0-9.]+ /);
    expect(message).toMatch(/(set|remove|name|use|pass) /);
  });
});
