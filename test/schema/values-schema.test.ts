import yaml from "js-yaml";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ciScenario, ciScenarios } from "../support/chart.ts";
import { helmTemplate } from "../support/helm.ts";
import { CHART_PATH } from "../support/repo.ts";
import { chartSchemaValidator, offendingPath } from "../support/schema.ts";
import { mergeValues, modelDefaults, type JsonObject } from "../support/values.ts";

/**
 * values.schema.json, checked twice: by ajv (draft-07) against the defaults merged with the
 * input, as Helm merges them, and by the real `helm template`, which must refuse the same input
 * with a message naming the offending value's path.
 */

const validate = chartSchemaValidator();
const base = ciScenario("defaults");
const withDefaults = (...values: JsonObject[]): JsonObject => mergeValues(modelDefaults(), base.values, ...values);

interface BadInput {
  readonly case: string;
  readonly values: JsonObject;
  /** JSON pointer of the offending value (for an unknown key: where the key would be). */
  readonly path: string;
  /** The offending thing is a key that must not be there, not a value. */
  readonly unknownKey?: true;
}

const badInputs: BadInput[] = [
  { case: "an organization URL with a query", values: { azp: { url: "https://dev.azure.com/contoso?x=1" } }, path: "/azp/url" },
  { case: "a package mirror over plain http", values: { agent: { source: "download", packageUrl: "http://mirror.example.com/agent.tar.gz" } }, path: "/agent/packageUrl" },
  { case: "a package hash that is not a SHA-256", values: { agent: { packageSha256: "md5:abc" } }, path: "/agent/packageSha256" },
  { case: "a status check faster than every 5 s", values: { agent: { statusCheckSeconds: 1 } }, path: "/agent/statusCheckSeconds" },
  { case: "an organization URL without scheme", values: { azp: { url: "dev.azure.com/contoso" } }, path: "/azp/url" },
  { case: "an unknown top-level key", values: { replicas: 3 }, path: "/replicas", unknownKey: true },
  { case: "an unknown nested key (typo)", values: { azp: { urll: "https://dev.azure.com/x" } }, path: "/azp/urll", unknownKey: true },
  { case: "an unknown key in resources", values: { resources: { limit: { cpu: 1 } } }, path: "/resources/limit", unknownKey: true },
  { case: "a negative replicaCount", values: { replicaCount: -1 }, path: "/replicaCount" },
  { case: "a string replicaCount", values: { replicaCount: "3" }, path: "/replicaCount" },
  { case: "a fractional replicaCount", values: { replicaCount: 1.5 }, path: "/replicaCount" },
  { case: "an unknown pull policy", values: { image: { pullPolicy: "Sometimes" } }, path: "/image/pullPolicy" },
  { case: "an image tag with a space", values: { image: { tag: "1.0 beta" } }, path: "/image/tag" },
  { case: "a schedule that is not cron", values: { refresh: { schedule: "every day" } }, path: "/refresh/schedule" },
  { case: "a memory limit that is no quantity", values: { resources: { limits: { memory: "lots" } } }, path: "/resources/limits/memory" },
  { case: "a number as annotation value", values: { podAnnotations: { x: 1 } }, path: "/podAnnotations/x" },
  { case: "a boolean as node selector value", values: { nodeSelector: { ssd: true } }, path: "/nodeSelector/ssd" },
  { case: "a capability name that is no env var name", values: { agent: { capabilities: { "bad-name": "1" } } }, path: "/agent/capabilities/bad-name", unknownKey: true },
  { case: "an unknown agent source", values: { agent: { source: "cache" } }, path: "/agent/source" },
  { case: "a package URL that is not http(s)", values: { agent: { source: "download", packageUrl: "ftp://mirror/agent.tgz" } }, path: "/agent/packageUrl" },
  { case: "zero connect attempts", values: { agent: { connectAttempts: 0 } }, path: "/agent/connectAttempts" },
  { case: "an unknown concurrency policy", values: { refresh: { concurrencyPolicy: "Never" } }, path: "/refresh/concurrencyPolicy" },
  { case: "an existing Secret name that is no DNS name", values: { azp: { token: "", existingSecret: "Bad_Name" } }, path: "/azp/existingSecret" },
  { case: "a Secret key with a space", values: { azp: { token: "", existingSecret: "pat", existingSecretKey: "my key" } }, path: "/azp/existingSecretKey" },
  { case: "a token with whitespace", values: { azp: { token: "abc def" } }, path: "/azp/token" },
  { case: "an empty pool name", values: { azp: { pool: "" } }, path: "/azp/pool" },
  { case: "an upper-case namespace", values: { namespace: { create: true, name: "UPPER" } }, path: "/namespace/name" },
  { case: "a too short grace period", values: { terminationGracePeriodSeconds: 5 }, path: "/terminationGracePeriodSeconds" },
  { case: "an imagePullSecret without name", values: { imagePullSecrets: [{}] }, path: "/imagePullSecrets/0" },
  { case: "an extraEnv entry without name", values: { extraEnv: [{ value: "x" }] }, path: "/extraEnv/0" },
  { case: "an extraVolumeMount without mountPath", values: { extraVolumeMounts: [{ name: "cache" }] }, path: "/extraVolumeMounts/0" },
  { case: "tolerations as a map", values: { tolerations: { key: "x" } }, path: "/tolerations" },
  { case: "a proxy without scheme", values: { proxy: { httpsProxy: "proxy:3128" } }, path: "/proxy/httpsProxy" },
  { case: "a time zone with spaces", values: { refresh: { timeZone: "not a zone!" } }, path: "/refresh/timeZone" },
  { case: "a string for a boolean", values: { tests: { enabled: "yes" } }, path: "/tests/enabled" },
  { case: "an upper-case ServiceAccount name", values: { serviceAccount: { name: "Agents" } }, path: "/serviceAccount/name" },
  { case: "an unknown key under refresh.serviceAccount", values: { refresh: { serviceAccount: { annotation: {} } } }, path: "/refresh/serviceAccount/annotation", unknownKey: true },
  { case: "a priority class with upper case", values: { priorityClassName: "High" }, path: "/priorityClassName" },
  { case: "a fullnameOverride longer than 52", values: { fullnameOverride: "x".repeat(53) }, path: "/fullnameOverride" },
];

const parentOf = (path: string): string => path.slice(0, path.lastIndexOf("/"));
const lastToken = (path: string): string => path.slice(path.lastIndexOf("/") + 1);

describe("values.schema.json with ajv", () => {
  it("should accept the model's defaults", () => {
    expect(validate(modelDefaults()), JSON.stringify(validate.errors)).toBe(true);
  });

  it("should accept the shipped values.yaml", () => {
    const shipped = yaml.load(readFileSync(join(CHART_PATH, "values.yaml"), "utf8"));
    expect(validate(shipped), JSON.stringify(validate.errors)).toBe(true);
  });

  it.each(ciScenarios())("should accept the $name scenario merged over the defaults", ({ values }) => {
    expect(validate(mergeValues(modelDefaults(), values)), JSON.stringify(validate.errors)).toBe(true);
  });

  it("should accept values for parent charts under `global`", () => {
    expect(validate(withDefaults({ global: { imageRegistry: "mirror.example.com", anything: [1, 2] } })), JSON.stringify(validate.errors)).toBe(true);
  });

  it("should have at least 20 bad inputs to reject", () => {
    expect(badInputs.length).toBeGreaterThanOrEqual(20);
  });

  it.each(badInputs)("should reject $case at $path", ({ values, path }) => {
    // GIVEN one bad value over otherwise valid values  WHEN validated
    const valid = validate(withDefaults(values));
    // THEN it fails, and every error is about that value
    expect(valid).toBe(false);
    const paths = (validate.errors ?? []).map(offendingPath);
    expect(paths).toContain(path);
    expect(paths.filter((p) => p !== path && !p.startsWith(`${path}/`))).toEqual([]);
  });
});

describe("values.schema.json with helm template", () => {
  it.each(badInputs)("should fail on $case, naming $path", ({ values, path, unknownKey }) => {
    // GIVEN the same bad value  WHEN Helm renders the chart with it
    const r = helmTemplate({ valuesFiles: [base.file], values: [values] });
    // THEN Helm refuses, and its message points at the value (`at '<path>'`)
    expect(r.code, r.output).not.toBe(0);
    expect(r.stderr).toContain("values don't meet the specifications of the schema");
    if (unknownKey) {
      expect(r.stderr).toContain(`at '${parentOf(path)}': additional properties '${lastToken(path)}' not allowed`);
    } else {
      expect(r.stderr).toContain(`at '${path}'`);
    }
  });
});
