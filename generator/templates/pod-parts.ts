import type { IIoK8sApimachineryPkgApisMetaV1ObjectMeta as ObjectMeta } from "@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IEnvVar } from "kubernetes-models/v1/EnvVar";
import type { IVolume } from "kubernetes-models/v1/Volume";
import type { IVolumeMount } from "kubernetes-models/v1/VolumeMount";
import { componentLabel, type Component } from "../contract/components.ts";
import {
  caBundleEnvName,
  commandOf,
  envFor,
  imageContract,
  podMounts,
  type AuthMode,
  type ContainerKey,
  type EnvKey,
  type PodContainerKey,
} from "../contract/image.ts";
import { authModesWith, contractEnvSource, type TextSource } from "../model/contract-env.ts";
import { v } from "../model/values.ts";
import type { TemplateDocument } from "../go-template/template-document.ts";
import { helper, include } from "./helper-names.ts";

/** Building blocks shared by the Deployment, the CronJob and the test pod. */

const { paths, volumes, containers } = imageContract;

export function metadata(t: TemplateDocument, name: string, componentName: Component, extra: ObjectMeta = {}): ObjectMeta {
  return {
    name: t.str(`${name} | quote`),
    namespace: t.str(`${include(helper.namespace)} | quote`),
    ...extra,
    labels: { ...t.includeEntries(helper.labels), [componentLabel]: componentName, ...extra.labels },
  };
}

export const fullname = (): string => include(helper.fullname);

const autoscaling = v("autoscaling.enabled").path;

/**
 * Conditions on `azp.auth`: which credential the pods mount. A Secret (the PAT, or the client
 * secret) unless workload identity, where a projected service-account token takes its place.
 */
export const auth = {
  is: (mode: AuthMode): string => authCondition([mode]),
  /** The pods mount the credential Secret. */
  secret: authCondition(authModesWith.secret),
  /** The pods mount the federated token. */
  federated: authCondition(authModesWith.federatedToken),
  /** The chart renders the Secret itself (no existing one named for the mode). */
  chartSecret: `or (and (eq ${v("azp.auth").path} "pat") (not ${v("azp.existingSecret").path})) (and (eq ${v("azp.auth").path} "servicePrincipal") (not ${v("azp.entra.existingSecret").path}))`,
};

/** A condition on `azp.auth`: it is one of `modes`. */
export function authCondition(modes: readonly AuthMode[]): string {
  const others = imageContract.authModes.filter((mode) => !modes.includes(mode));
  const [only] = modes;
  const [other] = others;
  if (modes.length === 1 && only !== undefined) return `eq ${v("azp.auth").path} "${only}"`;
  if (others.length === 1 && other !== undefined) return `ne ${v("azp.auth").path} "${other}"`;
  return `has ${v("azp.auth").path} (list ${modes.map((mode) => `"${mode}"`).join(" ")})`;
}

/** An expression as an argument of a Go-template call: parenthesized unless it is one word. */
const operand = (expr: string): string => (/^[$.\w"]+$/.test(expr) ? expr : `(${expr})`);

/** A text source as a Go-template expression (contract-env.ts says which value each variable gets). */
function goExpr(source: TextSource): string {
  switch (source.kind) {
    case "constant":
      // The contract's texts are plain paths and words: a JSON string is a Go string literal.
      return JSON.stringify(source.text);
    case "value": {
      const ref = v(source.key);
      if (source.format === "json") return `${ref.path} | toJson`;
      if (source.format === "trimTrailingSlash") return `${ref.path} | trimSuffix "/"`;
      const given = source.zeroMeans === undefined ? ref.path : `default ${source.zeroMeans} ${ref.path}`;
      // A values file's number is a float64 in Helm: toString alone would print 2000000 as 2e+06.
      return isInteger(source) ? `int64 ${operand(given)}` : given;
    }
    case "derived":
      return include(helper[source.name]);
    case "byMode":
      return `ternary ${operand(goExpr(source.autoscaling))} ${operand(goExpr(source.deployment))} ${autoscaling}`;
  }
}

const isInteger = (source: TextSource & { kind: "value" }): boolean => source.format === undefined && v(source.key).spec.schema["type"] === "integer";

/** Whether a source is a string already (else `toString` makes it one). */
function isString(source: TextSource): boolean {
  switch (source.kind) {
    case "value":
      return source.format !== undefined || v(source.key).spec.schema["type"] === "string";
    case "byMode":
      return isString(source.autoscaling) && isString(source.deployment);
    default:
      return true;
  }
}

/** A contract variable's value as the chart renders it. */
function contractEnvVar(t: TemplateDocument, key: EnvKey): IEnvVar {
  const name = imageContract.env[key].name;
  const { source } = contractEnvSource(key);
  if (source.kind === "pod") return { name, valueFrom: { fieldRef: { fieldPath: source.field } } };
  if (source.kind === "constant") return { name, value: source.text };
  return { name, value: t.str(`${goExpr(source)} | ${isString(source) ? "" : "toString | "}quote`) };
}

/**
 * The contract variables of a container: exactly those its command reads (`envFor`), so chart
 * and image cannot drift apart, each only in the `azp.auth` modes that use it.
 */
export function contractEnv(t: TemplateDocument, container: ContainerKey): IEnvVar[] {
  return envFor(commandOf(container)).flatMap((key) => {
    const { authModes } = contractEnvSource(key);
    const variable = contractEnvVar(t, key);
    return authModes === undefined ? [variable] : t.whenItems(authCondition(authModes), [variable]);
  });
}

/** HTTP(S)_PROXY / NO_PROXY in both spellings, from one named template (`_helpers.tpl`). */
export function proxyEnv(t: TemplateDocument): IEnvVar[] {
  return [t.includeItems<IEnvVar>(helper.proxyEnv)];
}

/** User capabilities become agent environment variables, which the agent reports as capabilities. */
export function capabilityEnv(t: TemplateDocument): IEnvVar[] {
  return t.eachItems(`$name, $value := ${v("agent.capabilities").path}`, [{ name: t.str("$name | quote"), value: t.str("$value | quote") }]);
}

/**
 * Resources of the containers that register and remove agents (register, deregister, the
 * placeholder hooks, the test pod): `registrationResources`, or its deprecated old name when set.
 */
export const registrationResources = (t: TemplateDocument): never =>
  t.block(`toYaml (default ${v("registrationResources").path} ${v("registrarResources").path})`);

/**
 * The parts every container of the chart shares: its contract name and command, image, pull
 * policy, hardened security context.
 */
export function baseContainer(t: TemplateDocument, container: ContainerKey): IContainer {
  return {
    name: containers[container],
    image: t.str(`${include(helper.image)} | quote`),
    imagePullPolicy: t.str<"Always" | "IfNotPresent" | "Never">(v("image.pullPolicy").quoted),
    command: [imageContract.commands[commandOf(container)]],
    // A container that fails shows why in `kubectl get/describe pod` (its last log lines).
    terminationMessagePolicy: "FallbackToLogsOnError",
    securityContext: t.block(v("securityContext").yaml),
  };
}

export const mount = (name: string, mountPath: string, readOnly = false): IVolumeMount => ({
  name,
  mountPath,
  ...(readOnly ? { readOnly: true } : {}),
});

/**
 * The volumeMounts of an agent-pod container, from the contract's `podMounts`; the credential
 * Secret and the federated token only in the `azp.auth` modes that use them.
 */
export const containerMounts = (t: TemplateDocument, container: PodContainerKey): IVolumeMount[] =>
  podMounts(container).flatMap((m) => {
    const item = mount(m.name, m.mountPath, m.readOnly);
    if (m.volume === "token") return t.whenItems(auth.secret, [item]);
    if (m.volume === "federatedToken") return t.whenItems(auth.federated, [item]);
    return [item];
  });

export const emptyDir = (name: string): IVolume => ({ name, emptyDir: {} });

/** The credential Secret, projected to the contract's file name whatever the user's key is. */
function tokenVolume(t: TemplateDocument): IVolume {
  return {
    name: volumes.token,
    secret: {
      secretName: t.str(`${include(helper.secretName)} | quote`),
      items: [{ key: t.str(`${include(helper.secretKey)} | quote`), path: imageContract.tokenFileName }],
      defaultMode: 0o440,
    },
  };
}

/**
 * The projected service-account token Entra exchanges for an access token (workload identity):
 * the audience the identity's federated credentials expect, refreshed by the kubelet, mounted
 * only into the containers that talk to Azure DevOps. It is not a Kubernetes API credential
 * (the API server accepts only its own audiences).
 */
function federatedTokenVolume(t: TemplateDocument): IVolume {
  return {
    name: volumes.federatedToken,
    projected: {
      defaultMode: 0o440,
      sources: [
        {
          serviceAccountToken: {
            path: imageContract.federatedTokenFileName,
            audience: t.str(v("azp.entra.audience").quoted),
            expirationSeconds: imageContract.entra.federatedTokenExpirationSeconds,
          },
        },
      ],
    },
  };
}

/** The volume of the release's credential: the Secret, or the federated token. */
export const credentialVolumes = (t: TemplateDocument): IVolume[] => [...t.whenItems(auth.secret, [tokenVolume(t)]), ...t.whenItems(auth.federated, [federatedTokenVolume(t)])];

/** The mount of the release's credential, for the CronJob, hook and test pods' one container. */
export const credentialMounts = (t: TemplateDocument): IVolumeMount[] => [
  ...t.whenItems(auth.secret, [mount(volumes.token, paths.secrets, true)]),
  ...t.whenItems(auth.federated, [mount(volumes.federatedToken, paths.federatedToken, true)]),
];

/**
 * The optional extra CA certificates (`caBundle`): a ConfigMap projected to the contract's file,
 * mounted read-only and named by SSL_CERT_FILE, which OpenSSL (curl, the .NET agent) reads in
 * addition to the system's certificate directory.
 */
export const caBundle = {
  volumes: (t: TemplateDocument): IVolume[] =>
    t.whenItems(v("caBundle.configMap").path, [
      {
        name: volumes.caBundle,
        configMap: {
          name: t.str(v("caBundle.configMap").quoted),
          items: [{ key: t.str(v("caBundle.key").quoted), path: imageContract.caBundleFileName }],
        },
      },
    ]),
  mounts: (t: TemplateDocument): IVolumeMount[] => t.whenItems(v("caBundle.configMap").path, [mount(volumes.caBundle, paths.caBundle, true)]),
  env: (t: TemplateDocument): IEnvVar[] =>
    t.whenItems(v("caBundle.configMap").path, [{ name: caBundleEnvName, value: `${paths.caBundle}/${imageContract.caBundleFileName}` }]),
};

/**
 * The ServiceAccount token, mounted explicitly into the one container that needs it: pods set
 * `automountServiceAccountToken: false`, so the job container never sees a Kubernetes token.
 * Same shape as the volume the kubelet would inject (token, CA bundle, namespace).
 */
export function serviceAccountTokenVolume(): IVolume {
  return {
    name: volumes.serviceAccount,
    projected: {
      defaultMode: 0o440,
      sources: [
        { serviceAccountToken: { path: "token", expirationSeconds: 3607 } },
        { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } },
        { downwardAPI: { items: [{ path: "namespace", fieldRef: { fieldPath: "metadata.namespace" } }] } },
      ],
    },
  };
}

/** Pod-level settings shared by every pod of the chart. */
export function podSecurity(t: TemplateDocument): { securityContext: never; imagePullSecrets?: never } {
  return {
    securityContext: t.block(v("podSecurityContext").yaml),
    ...t.when(v("imagePullSecrets").path, { imagePullSecrets: t.block(v("imagePullSecrets").yaml) }),
  };
}

export { containers, paths, volumes };
