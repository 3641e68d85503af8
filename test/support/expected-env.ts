import { caBundleEnvName, envFor, imageContract, proxyEnvNames, type ImageCommand } from "../../generator/contract/image.ts";
import { isJsonObject, type JsonObject } from "./values.ts";

/**
 * The env var names the chart should set on a container running `command`, for the given
 * (merged) values — derived from the contract and the values, never typed by hand.
 */


/** Commands whose container carries the user's capabilities: the agent reports them when it registers and runs. */
const CAPABILITY_COMMANDS: readonly ImageCommand[] = imageContract.capabilityCommands;

/** Variables the chart sets only in some `azp.auth` modes (literal: the chart's rule, not its code). */
const AUTH_MODES_OF: Record<string, readonly string[]> = {
  AZP_TOKEN_FILE: ["pat", "servicePrincipal"],
  AZURE_TENANT_ID: ["servicePrincipal", "workloadIdentity"],
  AZURE_CLIENT_ID: ["servicePrincipal", "workloadIdentity"],
  AZURE_AUTHORITY_HOST: ["servicePrincipal", "workloadIdentity"],
  AZURE_FEDERATED_TOKEN_FILE: ["workloadIdentity"],
};

/** `azp.auth` of the merged values (the chart's default: pat). */
function authMode(values: JsonObject): string {
  const azp = isJsonObject(values["azp"]) ? values["azp"] : {};
  return typeof azp["auth"] === "string" ? azp["auth"] : "pat";
}

export function contractNames(command: ImageCommand, values: JsonObject = {}): string[] {
  const mode = authMode(values);
  return envFor(command)
    .map((key) => imageContract.env[key].name)
    .filter((name) => AUTH_MODES_OF[name]?.includes(mode) ?? true);
}

export function proxyNames(values: JsonObject): string[] {
  const proxy = isJsonObject(values["proxy"]) ? values["proxy"] : {};
  return Object.entries(proxyEnvNames)
    .filter(([key]) => typeof proxy[key] === "string" && proxy[key] !== "")
    .flatMap(([, names]) => [...names]);
}

export function expectedEnvNames(command: ImageCommand, values: JsonObject): string[] {
  const agent = isJsonObject(values["agent"]) ? values["agent"] : {};
  const capabilities = CAPABILITY_COMMANDS.includes(command) && isJsonObject(agent["capabilities"]) ? Object.keys(agent["capabilities"]) : [];
  const extraEnv =
    command === "run" && Array.isArray(values["extraEnv"])
      ? values["extraEnv"].map((e) => (isJsonObject(e) ? String(e["name"]) : ""))
      : [];
  // The extra CA bundle reaches every container that talks to Azure DevOps or a package host.
  const caBundle = isJsonObject(values["caBundle"]) && values["caBundle"]["configMap"] && command !== "refresh" ? [caBundleEnvName] : [];
  return [...contractNames(command, values), ...capabilities, ...proxyNames(values), ...caBundle, ...extraEnv];
}
