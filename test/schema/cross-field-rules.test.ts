import { describe, expect, it } from "vitest";
import { crossFieldRules, type CrossFieldRule } from "../../generator/templates/cross-field-rules.ts";
import { ciScenario } from "../support/chart.ts";
import { failMessage, helmTemplate } from "../support/helm.ts";
import { chartSchemaValidator } from "../support/schema.ts";
import { mergeValues, modelDefaults, type JsonObject } from "../support/values.ts";

/**
 * Rules the schema cannot express (generator/templates/cross-field-rules.ts): the schema accepts
 * these inputs, and `helm template` fails with exactly the message written here.
 */

const base = ciScenario("defaults");
const entra = { tenantId: "11111111-2222-3333-4444-555555555555", clientId: "99999999-2222-3333-4444-555555555555" };
const validate = chartSchemaValidator();
const rules = crossFieldRules();

/** The names the chart and the image set themselves, as the two reserved-name rules list them. */
const RESERVED =
  "AZP_URL, AZP_POOL, AZP_TOKEN_FILE, AZP_AUTH, AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_AUTHORITY_HOST, AZURE_FEDERATED_TOKEN_FILE, AZP_AGENT_NAME, AZP_RELEASE, AZP_WORK, AZP_AGENT_SOURCE, " +
  "AZP_AGENT_PACKAGE_URL, AZP_AGENT_PACKAGE_SHA256, AZP_DOWNLOAD_TIMEOUT_SECONDS, AZP_CONNECT_ATTEMPTS, AZP_REMOVE_RETRY_SECONDS, AZP_STATUS_CHECK_SECONDS, AZP_MAX_LIFETIME_SECONDS, " +
  "AZP_POD_LIFECYCLE, AZP_IDLE_TIMEOUT_SECONDS, AZP_MIN_IDLE_AGENTS, AZP_PLACEHOLDER_AGENT, AZP_PLACEHOLDER_CAPABILITIES, AZP_STOP_GRACE_SECONDS, VSO_AGENT_IGNORE, POD_NAME, POD_NAMESPACE, " +
  "AZP_DEPLOYMENT, AZP_SMOKE_MIN_AGENTS, AZP_SMOKE_TIMEOUT_SECONDS, AZP_GC_OFFLINE_GRACE_SECONDS, AZP_GC_DRY_RUN, AZP_IMAGE_VERSION, AZP_BAKED_AGENT_VERSION, SSL_CERT_FILE";

/** Each case breaks one rule; `message` is what Helm must print, word for word. */
const violations: { case: string; values: JsonObject; message: string }[] = [
  {
    case: "neither token nor existingSecret",
    values: { azp: { token: "" } },
    message: "azp.token or azp.existingSecret is required: pass the PAT with --set azp.token=<PAT>, or name an existing Secret with --set azp.existingSecret=<name> (key: azp.existingSecretKey)",
  },
  {
    case: "both token and existingSecret",
    values: { azp: { existingSecret: "team-pat" } },
    message: "azp.token and azp.existingSecret are both set: keep only one: remove azp.token to use the existing Secret, or remove azp.existingSecret to let the chart manage the Secret",
  },
  {
    case: "no organization URL",
    values: { azp: { url: "" } },
    message: "azp.url is required: set it to your organization URL, e.g. --set azp.url=https://dev.azure.com/<organization>",
  },
  {
    case: "serviceAccount.create=false without a name",
    values: { serviceAccount: { create: false } },
    message: "serviceAccount.name is required when serviceAccount.create=false: name an existing ServiceAccount, or set serviceAccount.create=true",
  },
  {
    case: "refresh.serviceAccount.create=false without a name",
    values: { refresh: { serviceAccount: { create: false } } },
    message:
      "refresh.serviceAccount.name is required when refresh.serviceAccount.create=false: name an existing ServiceAccount, set refresh.serviceAccount.create=true, or disable the refresher with refresh.enabled=false",
  },
  {
    case: "gc.serviceAccount.create=false without a name",
    values: { gc: { serviceAccount: { create: false } } },
    message: "gc.serviceAccount.name is required when gc.serviceAccount.create=false: name an existing ServiceAccount, set gc.serviceAccount.create=true, or disable garbage collection with gc.enabled=false",
  },
  {
    case: "a maximum lifetime of 30 seconds",
    values: { agent: { maxLifetimeSeconds: 30 } },
    message:
      "agent.maxLifetimeSeconds must be 0 (off) or at least 60: an agent needs about a minute to start, a shorter lifetime would replace agents before they take a job; set --set agent.maxLifetimeSeconds=<seconds, e.g. 86400>",
  },
  {
    case: "a packageUrl with the baked source",
    values: { agent: { packageUrl: "https://mirror.example.com/agent.tar.gz" } },
    message: "agent.packageUrl only applies with agent.source=download: set agent.source=download or remove agent.packageUrl",
  },
  {
    case: "a package mirror without its hash",
    values: { agent: { source: "download", packageUrl: "https://mirror.example.com/agent.tar.gz" } },
    message: "agent.packageSha256 is required with agent.packageUrl: the mirror's package is verified against it; pass --set agent.packageSha256=<SHA-256 of the package>",
  },
  {
    case: "a package hash without a mirror",
    values: { agent: { source: "download", packageSha256: "ab".repeat(32) } },
    message:
      "agent.packageSha256 only applies with agent.packageUrl: set agent.packageUrl to the mirror's https URL, or remove agent.packageSha256 (Azure DevOps publishes the hash of the package it offers)",
  },
  {
    case: "namespace.create without a name",
    values: { namespace: { create: true } },
    message:
      "namespace.name is required when namespace.create=true: Helm stores the release in the release namespace, which must exist already; create another namespace by name, or use helm install --create-namespace instead",
  },
  {
    case: "an Entra mode with a PAT still set",
    values: { azp: { auth: "workloadIdentity", entra: entra } },
    message:
      "azp.token and azp.existingSecret hold a PAT, which azp.auth=servicePrincipal or workloadIdentity does not use: remove them (the identity is azp.entra.tenantId and azp.entra.clientId)",
  },
  {
    case: "an Entra mode without a tenant",
    values: { azp: { token: "", auth: "workloadIdentity", entra: { clientId: entra.clientId } } },
    message: "azp.entra.tenantId is required with azp.auth=servicePrincipal or workloadIdentity: set it to the identity's directory (tenant) id, --set azp.entra.tenantId=<GUID>",
  },
  {
    case: "an Entra mode without a client id",
    values: { azp: { token: "", auth: "servicePrincipal", entra: { tenantId: entra.tenantId, clientSecret: "s" } } },
    message:
      "azp.entra.clientId is required with azp.auth=servicePrincipal or workloadIdentity: set it to the application (client) id of the service principal or managed identity, --set azp.entra.clientId=<GUID>",
  },
  {
    case: "a service principal without its secret",
    values: { azp: { token: "", auth: "servicePrincipal", entra } },
    message:
      "azp.entra.clientSecret or azp.entra.existingSecret is required with azp.auth=servicePrincipal: pass the client secret with --set azp.entra.clientSecret=<secret>, or name an existing Secret with --set azp.entra.existingSecret=<name> (key: azp.entra.existingSecretKey)",
  },
  {
    case: "a service principal with both a secret and an existing Secret",
    values: { azp: { token: "", auth: "servicePrincipal", entra: { ...entra, clientSecret: "s", existingSecret: "sp-secret" } } },
    message:
      "azp.entra.clientSecret and azp.entra.existingSecret are both set: keep only one: remove azp.entra.clientSecret to use the existing Secret, or remove azp.entra.existingSecret to let the chart manage the Secret",
  },
  {
    case: "a client secret with workload identity",
    values: { azp: { token: "", auth: "workloadIdentity", entra: { ...entra, clientSecret: "s" } } },
    message: "azp.entra.clientSecret and azp.entra.existingSecret apply only with azp.auth=servicePrincipal: remove them, or set azp.auth=servicePrincipal",
  },
  {
    case: "autoscaling with a service principal",
    values: { autoscaling: { enabled: true }, azp: { token: "", auth: "servicePrincipal", entra: { ...entra, clientSecret: "s" } } },
    message:
      "autoscaling.enabled does not work with azp.auth=servicePrincipal: KEDA's azure-pipelines scaler authenticates with a PAT or with KEDA's own workload identity, never with a client secret; use azp.auth=workloadIdentity (and give KEDA's operator the identity) or azp.auth=pat",
  },
  {
    case: "the own-pod deletion policy with agents and collector sharing a ServiceAccount",
    values: { admissionPolicy: { enabled: true }, serviceAccount: { create: false, name: "shared" }, gc: { serviceAccount: { create: false, name: "shared" } } },
    message:
      "serviceAccount.name and gc.serviceAccount.name name the same ServiceAccount while admissionPolicy.enabled=true: the policy would let the collector delete only its own pod, not an agent's; give the collector a ServiceAccount of its own (gc.serviceAccount.create=true)",
  },
  {
    case: "autoscaling with minReplicas above maxReplicas",
    values: { autoscaling: { enabled: true, minReplicas: 5, maxReplicas: 3 } },
    message:
      "autoscaling.minReplicas is greater than autoscaling.maxReplicas: KEDA never runs more than autoscaling.maxReplicas agent Jobs; set autoscaling.minReplicas to at most autoscaling.maxReplicas, or raise autoscaling.maxReplicas",
  },
  {
    case: "autoscaling with a comma in a capability",
    values: { autoscaling: { enabled: true }, agent: { capabilities: { java: "17", tools: "docker,helm" } } },
    message:
      "agent.capabilities has a comma in the value of tools: with autoscaling.enabled=true the capabilities become KEDA's comma-separated demands list; remove the comma from that value",
  },
  {
    case: "autoscaling with two capability names that differ only in case",
    values: { autoscaling: { enabled: true }, agent: { capabilities: { java: "17", Team: "a", TEAM: "b" } } },
    message:
      "agent.capabilities has TEAM and another name that differs only in case: Azure DevOps compares capability names without case, so with autoscaling.enabled=true KEDA could never match such a demand; rename one of them",
  },
  // Would replace the release identity helm test counts agents by.
  {
    case: "a capability named AZP_RELEASE",
    values: { agent: { capabilities: { java: "17", AZP_RELEASE: "x/y" } } },
    message: `agent.capabilities has the reserved name AZP_RELEASE: the chart or the image sets that variable itself; rename the capability (reserved: ${RESERVED})`,
  },
  {
    case: "an extra variable named AZP_WORK",
    values: { extraEnv: [{ name: "GOFLAGS", value: "-mod=mod" }, { name: "AZP_WORK", value: "/tmp/w" }] },
    message: `extraEnv has the reserved name AZP_WORK: the chart or the image sets that variable itself; rename the variable (reserved: ${RESERVED})`,
  },
];

/** A rule's message as a pattern: `%s` (a `range` rule's offending name) matches any name. */
const messagePattern = (rule: CrossFieldRule): RegExp => new RegExp(`^${rule.message.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace("%s", "[A-Za-z_][A-Za-z0-9_]*")}$`);

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
  it("should have a violating case for every rule, and no case that breaks none", () => {
    const uncovered = rules.filter((rule) => !violations.some((v) => messagePattern(rule).test(v.message))).map((rule) => rule.message);
    expect(uncovered).toEqual([]);
    const unknown = violations.filter((v) => !rules.some((rule) => messagePattern(rule).test(v.message))).map((v) => v.case);
    expect(unknown).toEqual([]);
  });

  it.each(violations)("should accept $case in the schema (only the template can tell)", ({ values }) => {
    expect(validate(mergeValues(modelDefaults(), base.values, values)), JSON.stringify(validate.errors)).toBe(true);
  });

  it.each(violations)("should fail helm template on $case with exactly the rule's message", ({ values, message }) => {
    // GIVEN valid defaults with one rule broken  WHEN Helm renders
    const r = helmTemplate({ valuesFiles: [base.file], values: [values] });
    // THEN it fails with that rule's message (naming the offending key) and nothing else
    expect(r.code, r.output).not.toBe(0);
    expect(failMessage(r.stderr)).toBe(message);
  });

  it.each(validCombinations)("should render $case", ({ values }) => {
    const r = helmTemplate({ valuesFiles: [base.file], values: [values] });
    expect(r.code, r.output).toBe(0);
  });

  it.each(rules.map((r) => ({ message: r.message })))("should name a value and its fix in: $message", ({ message }) => {
    expect(message).toMatch(/^[a-z][A-Za-z0-9.]+ /);
    expect(message).toMatch(/(set|remove|name|use|pass) /);
  });
});
