// The chart-validation toolchain that tools/install-tools.sh puts in .cache/tools/bin:
// every tool runs and reports the version pinned in tools/versions.sh, and kubeconform,
// with the schemas derived offline by tools/kube-schemas.sh, tells a valid workload from
// an invalid one for every Kubernetes version the chart is validated against.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const BIN = join(REPO, ".cache", "tools", "bin");
const SCHEMAS = join(REPO, ".cache", "kube-schemas");
const INSTALL_HINT = "run `bash tools/install-tools.sh` first";

interface RunResult {
  status: number | null;
  output: string;
}

function run(command: string, args: string[]): RunResult {
  const r = spawnSync(command, args, { cwd: REPO, encoding: "utf8" });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** The pins, read by sourcing tools/versions.sh the way the scripts do. */
function readPins(): Record<string, string> {
  const names = ["HELM_VERSION", "CT_VERSION", "KUBECONFORM_VERSION", "YAMLLINT_VERSION", "YAMALE_VERSION", "KUBE_SCHEMA_VERSIONS"];
  const script = `source tools/versions.sh; ${names.map((n) => `printf '%s\\n' "$${n}"`).join("; ")}`;
  const r = run("bash", ["-c", script]);
  if (r.status !== 0) throw new Error(`sourcing tools/versions.sh failed: ${r.output}`);
  const values = r.output.split("\n");
  return Object.fromEntries(names.map((n, i) => [n, values[i] ?? ""]));
}

const pins = readPins();
const kubeVersions = (pins["KUBE_SCHEMA_VERSIONS"] ?? "").split(/\s+/).filter((v) => v !== "");

function tool(name: string): string {
  const path = join(BIN, name);
  if (!existsSync(path)) throw new Error(`${path} is missing: ${INSTALL_HINT}`);
  return path;
}

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

describe("chart-validation toolchain (.cache/tools/bin)", () => {
  it.each([
    { name: "helm", args: ["version", "--template", "{{ .Version }}"], pin: "HELM_VERSION" },
    { name: "ct", args: ["version"], pin: "CT_VERSION" },
    { name: "kubeconform", args: ["-v"], pin: "KUBECONFORM_VERSION" },
    { name: "yamllint", args: ["--version"], pin: "YAMLLINT_VERSION" },
    { name: "yamale", args: ["--version"], pin: "YAMALE_VERSION" },
  ])("should run $name and report the pinned $pin", ({ name, args, pin }) => {
    const want = pins[pin] ?? "";
    expect(want).not.toBe("");
    const r = run(tool(name), args);
    expect(r.status, r.output).toBe(0);
    expect(r.output.split(/\s+/)).toContain(want);
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
    const schemaDir = join(SCHEMAS, `v${version}-standalone-strict`);
    if (!existsSync(join(schemaDir, "deployment-apps-v1.json"))) {
      throw new Error(`no schemas in ${schemaDir}: ${INSTALL_HINT}`);
    }
    const location = `${SCHEMAS}/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json`;
    return run(tool("kubeconform"), ["-strict", "-summary", "-kubernetes-version", version, "-schema-location", location, join(dir, file)]);
  }

  it("should cover at least the lowest supported Kubernetes minor (1.29) and a newer one", () => {
    expect(kubeVersions.some((v) => v.startsWith("1.29."))).toBe(true);
    expect(kubeVersions.length).toBeGreaterThanOrEqual(2);
  });

  it.each(kubeVersions)("should accept a valid Deployment, CronJob and RoleBinding for Kubernetes %s", (version) => {
    const r = kubeconform(version, "valid.yaml");
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain("Valid: 3, Invalid: 0, Errors: 0, Skipped: 0");
  });

  it.each(kubeVersions)("should reject a string replicas and an unknown spec field for Kubernetes %s", (version) => {
    const r = kubeconform(version, "invalid.yaml");
    expect(r.status).toBe(1);
    expect(r.output).toContain("Invalid: 1");
    expect(r.output).toMatch(/\/spec\/replicas.*got string, want null or integer/);
    expect(r.output).toMatch(/additional properties 'replicaz' not allowed/);
  });
});
