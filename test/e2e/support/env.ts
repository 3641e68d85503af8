import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Where the e2e suite runs. It needs only a KUBECONFIG, a registry the nodes pull from (and helm
 * pushes to), and an address pods use to reach the fake Azure DevOps on this host — so it runs
 * unchanged against the local cluster of test/cluster/, or kind, k3d, AKS (see test/e2e/README.md).
 */
export interface E2eEnv {
  readonly repo: string;
  readonly kubeconfig: string;
  /** host:port of the OCI registry (images and the chart). */
  readonly registry: string;
  readonly registryPlainHttp: boolean;
  /** Address pods reach this host on (the fake Azure DevOps listens on 0.0.0.0). */
  readonly hostForPods: string;
  readonly kubectl: string;
  readonly helm: string;
  readonly ct: string;
}

export const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** KEY=VALUE lines of test/cluster's env file, if the local cluster wrote one. */
function clusterEnvFile(): Record<string, string> {
  const file = join(repo, ".cache/cluster/env");
  if (!existsSync(file)) return {};
  const entries = readFileSync(file, "utf8")
    .split("\n")
    .map((line) => line.replace(/^export\s+/, "").trim())
    .filter((line) => line.includes("=") && !line.startsWith("#"))
    .map((line) => {
      const at = line.indexOf("=");
      return [line.slice(0, at), line.slice(at + 1).replace(/^["']|["']$/g, "")] as const;
    });
  return Object.fromEntries(entries);
}

function firstExisting(...candidates: string[]): string {
  return candidates.find((c) => c.includes("/") && existsSync(c)) ?? candidates[candidates.length - 1]!;
}

export function e2eEnv(): E2eEnv {
  const file = clusterEnvFile();
  const get = (name: string, fallback?: string): string => {
    const value = process.env[name] ?? file[name] ?? fallback;
    if (value === undefined || value === "") {
      throw new Error(`e2e: ${name} is not set and test/cluster/up.sh has not written .cache/cluster/env — run 'bash test/cluster/up.sh' or export ${name}`);
    }
    return value;
  };
  return {
    repo,
    kubeconfig: get("KUBECONFIG"),
    registry: get("E2E_REGISTRY", file["REGISTRY"] ?? "127.0.0.1:5000"),
    registryPlainHttp: (process.env["E2E_REGISTRY_PLAIN_HTTP"] ?? "true") === "true",
    hostForPods: get("E2E_HOST_FOR_PODS", file["HOST_IP_FOR_PODS"]),
    kubectl: firstExisting(join(repo, ".cache/cluster/bin/kubectl"), "kubectl"),
    helm: firstExisting(join(repo, ".cache/tools/bin/helm"), "helm"),
    ct: firstExisting(join(repo, ".cache/tools/bin/ct"), "ct"),
  };
}
