// The toolchain that tools/install-tools.sh puts in .cache/tools/bin (chart validation and release):
// every tool runs and reports the version pinned in tools/versions.sh, and kubeconform,
// with the schemas derived offline by tools/kube-schemas.sh, tells a valid workload from
// an invalid one for every Kubernetes version the chart is validated against.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runSync, type RunResult } from "../support/process.ts";
import { INSTALL_HINT, KUBE_SCHEMAS, kubeSchemaVersions, pin, tool, type ToolName } from "../support/tools.ts";

const kubeVersions = kubeSchemaVersions();

const VALID_MANIFESTS = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: agent
  labels:
    app.kubernetes.io/name: agent
spec:
  replicas: 3
  selector:
    matchLabels:
      app.kubernetes.io/name: agent
  strategy:
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 0
  template:
    metadata:
      labels:
        app.kubernetes.io/name: agent
    spec:
      initContainers:
        - name: sidecar
          image: busybox:1.36
          restartPolicy: Always
      containers:
        - name: agent
          image: example/azp-agent:1.0.0
          resources:
            requests:
              cpu: 0.5
              memory: 256Mi
            limits:
              memory: 512Mi
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: cleanup
spec:
  schedule: "*/5 * * * *"
  timeZone: Etc/UTC
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: cleanup
              image: busybox:1.36
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: agent
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: agent
subjects:
  - kind: ServiceAccount
    name: agent
    namespace: default
`;

const INVALID_DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: agent
spec:
  replicas: "three"
  replicaz: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: agent
  template:
    metadata:
      labels:
        app.kubernetes.io/name: agent
    spec:
      containers:
        - name: agent
          image: example/azp-agent:1.0.0
`;

describe("toolchain (.cache/tools/bin)", () => {
  it.each<{ name: ToolName; args: string[]; pin: string }>([
    { name: "helm", args: ["version", "--template", "{{ .Version }}"], pin: "HELM_VERSION" },
    { name: "ct", args: ["version"], pin: "CT_VERSION" },
    { name: "kubeconform", args: ["-v"], pin: "KUBECONFORM_VERSION" },
    { name: "yamllint", args: ["--version"], pin: "YAMLLINT_VERSION" },
    { name: "yamale", args: ["--version"], pin: "YAMALE_VERSION" },
    { name: "cosign", args: ["version"], pin: "COSIGN_VERSION" },
    { name: "syft", args: ["version"], pin: "SYFT_VERSION" },
    { name: "crane", args: ["version"], pin: "CRANE_VERSION" },
    { name: "actionlint", args: ["-version"], pin: "ACTIONLINT_VERSION" },
  ])("should run $name and report the pinned $pin", ({ name, args, pin: variable }) => {
    const want = pin(variable);
    expect(want).not.toBe("");
    const r = runSync(tool(name), args);
    expect(r.code, r.output).toBe(0);
    // Some tools print the version with its leading "v", some without.
    expect(r.output.split(/\s+/).map((word) => word.replace(/^v(?=\d)/, ""))).toContain(want.replace(/^v/, ""));
  });
});

describe("kubeconform with the offline schemas (.cache/kube-schemas)", () => {
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "toolchain-test-"));
    writeFileSync(join(dir, "valid.yaml"), VALID_MANIFESTS);
    writeFileSync(join(dir, "invalid.yaml"), INVALID_DEPLOYMENT);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function kubeconform(version: string, file: string): RunResult {
    const schemaDir = join(KUBE_SCHEMAS, `v${version}-standalone-strict`);
    if (!existsSync(join(schemaDir, "deployment-apps-v1.json"))) {
      throw new Error(`no schemas in ${schemaDir}: ${INSTALL_HINT}`);
    }
    const location = `${KUBE_SCHEMAS}/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json`;
    return runSync(tool("kubeconform"), ["-strict", "-summary", "-kubernetes-version", version, "-schema-location", location, join(dir, file)]);
  }

  it("should cover at least the lowest supported Kubernetes minor (1.29) and a newer one", () => {
    expect(kubeVersions.some((v) => v.startsWith("1.29."))).toBe(true);
    expect(kubeVersions.length).toBeGreaterThanOrEqual(2);
  });

  it.each(kubeVersions)("should accept a valid Deployment, CronJob and RoleBinding for Kubernetes %s", (version) => {
    const r = kubeconform(version, "valid.yaml");
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain("Valid: 3, Invalid: 0, Errors: 0, Skipped: 0");
  });

  it.each(kubeVersions)("should reject a string replicas and an unknown spec field for Kubernetes %s", (version) => {
    const r = kubeconform(version, "invalid.yaml");
    expect(r.code).toBe(1);
    expect(r.output).toContain("Invalid: 1");
    expect(r.output).toMatch(/\/spec\/replicas.*got string, want null or integer/);
    expect(r.output).toMatch(/additional properties 'replicaz' not allowed/);
  });
});
