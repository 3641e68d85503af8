import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { runSync } from "./process.ts";
import { repoPath } from "./repo.ts";

/**
 * The chart-validation toolchain of tools/install-tools.sh (.cache/tools/bin) and the offline
 * kubeconform schemas of tools/kube-schemas.sh (.cache/kube-schemas). A missing tool fails the
 * test with the command that installs it: these layers never skip.
 */

export const INSTALL_HINT = "run `bash tools/install-tools.sh` first";
export const TOOLS_BIN: string = repoPath(".cache", "tools", "bin");
export const KUBE_SCHEMAS: string = repoPath(".cache", "kube-schemas");

export type ToolName = "helm" | "ct" | "kubeconform" | "yamllint" | "yamale" | "cosign" | "syft" | "crane" | "actionlint";

export function tool(name: ToolName): string {
  const path = join(TOOLS_BIN, name);
  if (!existsSync(path)) throw new Error(`${path} is missing: ${INSTALL_HINT}`);
  return path;
}

/** The environment with the toolchain first on PATH (ct runs helm, yamllint and yamale from PATH). */
export function toolchainEnv(): NodeJS.ProcessEnv {
  return { ...process.env, PATH: `${TOOLS_BIN}${delimiter}${process.env["PATH"] ?? ""}` };
}

let pinCache: Record<string, string> | undefined;

/** A variable of tools/versions.sh, read by sourcing it the way the install scripts do. */
export function pin(name: string): string {
  if (pinCache === undefined) {
    const names = ["HELM_VERSION", "CT_VERSION", "KUBECONFORM_VERSION", "YAMLLINT_VERSION", "YAMALE_VERSION", "KUBE_SCHEMA_VERSIONS", "COSIGN_VERSION", "SYFT_VERSION", "CRANE_VERSION", "ACTIONLINT_VERSION"];
    const script = `source tools/versions.sh; ${names.map((n) => `printf '%s\\n' "$${n}"`).join("; ")}`;
    const r = runSync("bash", ["-c", script]);
    if (r.code !== 0) throw new Error(`sourcing tools/versions.sh failed: ${r.output}`);
    const lines = r.stdout.split("\n");
    pinCache = Object.fromEntries(names.map((n, i) => [n, lines[i] ?? ""]));
  }
  const value = pinCache[name];
  if (value === undefined) throw new Error(`no pin ${name} in tools/versions.sh`);
  return value;
}

/** KUBE_SCHEMA_VERSIONS: the Kubernetes versions renderings are validated against. */
export function kubeSchemaVersions(): string[] {
  return pin("KUBE_SCHEMA_VERSIONS").split(/\s+/).filter((v) => v !== "");
}

/** kubeconform's -schema-location for the offline schemas; throws when a version's schemas are missing. */
export function kubeSchemaLocation(version: string): string {
  const dir = join(KUBE_SCHEMAS, `v${version}-standalone-strict`);
  if (!existsSync(join(dir, "deployment-apps-v1.json"))) throw new Error(`no kubeconform schemas in ${dir}: ${INSTALL_HINT}`);
  return `${KUBE_SCHEMAS}/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json`;
}
