import { caBundleEnvName, envFor, imageContract, proxyEnvNames, type ImageCommand } from "../../generator/contract/image.ts";
import { isJsonObject, type JsonObject } from "./values.ts";

/**
 * The env var names the chart should set on a container running `command`, for the given
 * (merged) values — derived from the contract and the values, never typed by hand.
 */


/** Commands whose container carries the user's capabilities: the agent reports them when it registers and runs. */
const CAPABILITY_COMMANDS: readonly ImageCommand[] = imageContract.capabilityCommands;

export function contractNames(command: ImageCommand): string[] {
  return envFor(command).map((key) => imageContract.env[key].name);
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
  return [...contractNames(command), ...capabilities, ...proxyNames(values), ...caBundle, ...extraEnv];
}
