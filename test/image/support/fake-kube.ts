import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { imageContract } from "../../../generator/contract/image.ts";
import { makeTestTls } from "../../support/test-tls.ts";

/**
 * Just enough of the Kubernetes API (over TLS, with a ServiceAccount bearer token) for the
 * image's Kubernetes calls: the sidecar's and the collector's GET and DELETE of a pod, and the
 * refresh job's GET + strategic-merge PATCH of the Deployment. Plus a ServiceAccount directory laid out like
 * the projected volume (token, ca.crt, namespace) to mount into containers.
 */

export interface KubeRequest {
  method: string;
  path: string;
  contentType: string | undefined;
  authorized: boolean;
  body: string;
}

export interface FakeKube {
  readonly port: number;
  readonly namespace: string;
  /** Host directory to mount at the contract's serviceAccount path. */
  readonly serviceAccountDir: string;
  readonly requests: KubeRequest[];
  /** Deployments that exist; GET/PATCH of others answer 404. */
  readonly deployments: Map<string, { annotations: Record<string, string> }>;
  /** Deployment names whose GET answers 403 (RBAC missing). */
  readonly forbidden: Set<string>;
  /** Pods being deleted: their GET carries a deletionTimestamp. Any other pod exists and runs. */
  readonly terminating: Set<string>;
  /** Pods that do not exist (GET and DELETE answer 404), e.g. those of agents a lost node left behind. */
  readonly absentPods: Set<string>;
  /** The AZP_RELEASE the chart set on a pod's containers (its spec shows it); others have none. */
  readonly podReleases: Map<string, string>;
  /** A pod's status.phase (a finished Job pod: Succeeded or Failed); others are Running. */
  readonly podPhases: Map<string, string>;
  /** When true, every pod request answers 403 (the Role lacks the verb). */
  podsForbidden: boolean;
  /** When true, every request answers 401 (the ServiceAccount was deleted, as on helm uninstall). */
  rejectAll: boolean;
  /** The uid the fake gives a pod (deterministic from its name). */
  uidOf(pod: string): string;
  /** `docker run` arguments that put a container "in" this cluster (host network). */
  dockerArgs(): string[];
  /** Back to an empty cluster view: no requests, Deployments, faults or pod states. */
  reset(): void;
  close(): Promise<void>;
}

function status(code: number, reason: string, message: string, details?: { name: string; kind: string }): string {
  return JSON.stringify({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, ...(details ? { details } : {}), code });
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = "";
  for await (const chunk of req) body += String(chunk);
  return body;
}

export async function startFakeKube(namespace = "azp-test"): Promise<FakeKube> {
  const dir = mkdtempSync(join(tmpdir(), "azp-fake-kube-"));
  const tls = makeTestTls(["127.0.0.1"]);

  const token = `kube-sa-${randomBytes(16).toString("hex")}`;
  const serviceAccountDir = join(dir, "serviceaccount");
  mkdirSync(serviceAccountDir, { recursive: true });
  writeFileSync(join(serviceAccountDir, "token"), token);
  writeFileSync(join(serviceAccountDir, "namespace"), namespace);
  writeFileSync(join(serviceAccountDir, "ca.crt"), tls.cert);
  chmodSync(dir, 0o755);
  chmodSync(serviceAccountDir, 0o755);
  for (const file of ["token", "namespace", "ca.crt"]) chmodSync(join(serviceAccountDir, file), 0o444);

  const requests: KubeRequest[] = [];
  const deployments = new Map<string, { annotations: Record<string, string> }>();
  const forbidden = new Set<string>();
  const terminating = new Set<string>();
  const uidOf = (pod: string): string => {
    const hex = Buffer.from(pod).toString("hex").padEnd(32, "0").slice(0, 32);
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
  };
  const absentPods = new Set<string>();
  const podReleases = new Map<string, string>();
  const podPhases = new Map<string, string>();
  const state = { rejectAll: false, podsForbidden: false };

  const server: Server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    void (async () => {
      const body = await readBody(req);
      const path = (req.url ?? "/").split("?")[0] ?? "/";
      const authorized = req.headers.authorization === `Bearer ${token}`;
      requests.push({ method: req.method ?? "", path, contentType: req.headers["content-type"], authorized, body });
      const send = (code: number, payload: string): void => {
        res.writeHead(code, { "Content-Type": "application/json" });
        res.end(payload);
      };
      if (!authorized || state.rejectAll) return send(401, status(401, "Unauthorized", "Unauthorized"));
      const pod = new RegExp(`^/api/v1/namespaces/${namespace}/pods/([^/]+)$`).exec(path);
      const podName = pod?.[1] ?? "";
      const podJson = (): string =>
        JSON.stringify({
          kind: "Pod",
          apiVersion: "v1",
          metadata: { name: podName, namespace, uid: uidOf(podName), ...(terminating.has(podName) ? { deletionTimestamp: new Date().toISOString() } : {}) },
          spec: {
            initContainers: [
              { name: imageContract.containers.register, env: podReleases.has(podName) ? [{ name: imageContract.env.release.name, value: podReleases.get(podName) }] : [] },
            ],
            containers: [{ name: imageContract.containers.agent }],
          },
          status: { phase: podPhases.get(podName) ?? "Running" },
        });
      if (pod && state.podsForbidden) {
        return send(403, status(403, "Forbidden", `pods "${podName}" is forbidden: User "system:serviceaccount:${namespace}:azp" cannot ${(req.method ?? "").toLowerCase()} resource "pods" in API group "" in the namespace "${namespace}"`));
      }
      if (pod && absentPods.has(podName)) return send(404, status(404, "NotFound", `pods "${podName}" not found`, { name: podName, kind: "pods" }));
      if (pod && req.method === "GET") return send(200, podJson());
      if (pod && req.method === "DELETE") {
        const preconditions = body === "" ? undefined : (JSON.parse(body) as { preconditions?: { uid?: string } }).preconditions;
        if (preconditions?.uid !== undefined && preconditions.uid !== uidOf(podName)) {
          return send(409, status(409, "Conflict", `Precondition failed: UID in precondition: ${preconditions.uid}, UID in object meta: ${uidOf(podName)}`));
        }
        const deleted = podJson();
        absentPods.add(podName);
        return send(200, deleted);
      }
      const deployment = new RegExp(`^/apis/apps/v1/namespaces/${namespace}/deployments/([^/]+)$`).exec(path);
      const name = deployment?.[1];
      if (name !== undefined && (req.method === "GET" || req.method === "PATCH")) {
        if (forbidden.has(name)) {
          return send(403, status(403, "Forbidden", `deployments.apps "${name}" is forbidden: User "system:serviceaccount:${namespace}:azp" cannot ${req.method.toLowerCase()} resource "deployments" in API group "apps" in the namespace "${namespace}"`));
        }
        const found = deployments.get(name);
        if (!found) return send(404, status(404, "NotFound", `deployments.apps "${name}" not found`));
        if (req.method === "PATCH") {
          if (req.headers["content-type"] !== "application/strategic-merge-patch+json") return send(415, status(415, "UnsupportedMediaType", "bad content type"));
          const patch = JSON.parse(body) as { spec?: { template?: { metadata?: { annotations?: Record<string, string> } } } };
          Object.assign(found.annotations, patch.spec?.template?.metadata?.annotations ?? {});
        }
        return send(200, JSON.stringify({ kind: "Deployment", apiVersion: "apps/v1", metadata: { name, namespace }, spec: { template: { metadata: { annotations: found.annotations } } } }));
      }
      return send(404, status(404, "NotFound", `${path} not found`));
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    namespace,
    serviceAccountDir,
    requests,
    deployments,
    forbidden,
    terminating,
    absentPods,
    podReleases,
    podPhases,
    get podsForbidden() {
      return state.podsForbidden;
    },
    set podsForbidden(value: boolean) {
      state.podsForbidden = value;
    },
    get rejectAll() {
      return state.rejectAll;
    },
    set rejectAll(value: boolean) {
      state.rejectAll = value;
    },
    uidOf,
    dockerArgs: () => [
      "--volume",
      `${serviceAccountDir}:${imageContract.paths.serviceAccount}:ro`,
      "--env",
      "KUBERNETES_SERVICE_HOST=127.0.0.1",
      "--env",
      `KUBERNETES_SERVICE_PORT=${port}`,
    ],
    reset: () => {
      requests.length = 0;
      deployments.clear();
      forbidden.clear();
      terminating.clear();
      absentPods.clear();
      podReleases.clear();
      podPhases.clear();
      state.podsForbidden = false;
      state.rejectAll = false;
    },
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
      rmSync(tls.dir, { recursive: true, force: true });
    },
  };
}
