import type { IIoK8sApimachineryPkgApisMetaV1ObjectMeta as ObjectMeta } from "@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IEnvVar } from "kubernetes-models/v1/EnvVar";
import type { IVolume } from "kubernetes-models/v1/Volume";
import type { IVolumeMount } from "kubernetes-models/v1/VolumeMount";
import {
  caBundleEnvName,
  envFor,
  federatedTokenFilePath,
  imageContract,
  podMounts,
  tokenFilePath,
  type AuthMode,
  type EnvKey,
  type ImageCommand,
  type PodContainerKey,
} from "../contract/image.ts";
import { v } from "../model/values.ts";
import type { TemplateDocument } from "../template/template-document.ts";
import { helper, include } from "./helpers.ts";

/** Building blocks shared by the Deployment, the CronJob and the test pod. */

const { paths, volumes, containers } = imageContract;

/** `app.kubernetes.io/component` of each part of the release. */
export const component = {
  agent: "agent",
  refresh: "refresh",
  gc: "gc",
  test: "smoke-test",
  rbac: "rbac",
  secret: "credentials",
  placeholder: "placeholder",
  autoscaling: "autoscaling",
  networkPolicy: "network-policy",
} as const;

export function metadata(t: TemplateDocument, name: string, componentName: string, extra: ObjectMeta = {}): ObjectMeta {
  return {
    name: t.str(`${name} | quote`),
    namespace: t.str(`${include(helper.namespace)} | quote`),
    ...extra,
    labels: { ...t.includeEntries(helper.labels), "app.kubernetes.io/component": componentName, ...extra.labels },
  };
}

export const fullname = (): string => include(helper.fullname);

const autoscaling = v("autoscaling.enabled").path;

/**
 * Conditions on `azp.auth`: which credential the pods mount. A Secret (the PAT, or the client
 * secret) unless workload identity, where a projected service-account token takes its place.
 */
export const auth = {
  is: (mode: AuthMode): string => `eq ${v("azp.auth").path} "${mode}"`,
  /** The pods mount the credential Secret. */
  secret: `ne ${v("azp.auth").path} "workloadIdentity"`,
  /** The pods mount the federated token. */
  federated: `eq ${v("azp.auth").path} "workloadIdentity"`,
  /** The chart renders the Secret itself (no existing one named for the mode). */
  chartSecret: `or (and (eq ${v("azp.auth").path} "pat") (not ${v("azp.existingSecret").path})) (and (eq ${v("azp.auth").path} "servicePrincipal") (not ${v("azp.entra.existingSecret").path}))`,
};
/** `agent.maxLifetimeSeconds` when it is 0 and autoscaling is on (one day). */
const autoscalingLifetimeDefault = 86400;

/** Environment variable named by the contract, with a template value. */
function env(key: EnvKey, value: Omit<IEnvVar, "name">): IEnvVar {
  return { name: imageContract.env[key].name, ...value };
}

/**
 * Values of every contract variable as the chart provides them. A command gets exactly the
 * variables the contract says it reads (`envFor`), so chart and image cannot drift apart.
 */
function contractEnvValue(t: TemplateDocument, key: EnvKey): Omit<IEnvVar, "name"> {
  const fieldRef = (fieldPath: string): Omit<IEnvVar, "name"> => ({ valueFrom: { fieldRef: { fieldPath } } });
  switch (key) {
    case "url":
      return { value: t.str(`${v("azp.url").path} | trimSuffix "/" | quote`) };
    case "pool":
      return { value: t.str(v("azp.pool").quoted) };
    case "tokenFile":
      return { value: tokenFilePath };
    case "auth":
      return { value: t.str(v("azp.auth").quoted) };
    case "tenantId":
      return { value: t.str(v("azp.entra.tenantId").quoted) };
    case "clientId":
      return { value: t.str(v("azp.entra.clientId").quoted) };
    case "authorityHost":
      return { value: t.str(v("azp.entra.authorityHost").quoted) };
    case "federatedTokenFile":
      return { value: federatedTokenFilePath };
    case "agentName":
    case "podName":
      return fieldRef("metadata.name");
    case "podNamespace":
      return fieldRef("metadata.namespace");
    case "release":
      return { value: t.str(`${include(helper.release)} | quote`) };
    case "work":
      return { value: paths.work };
    case "agentSource":
      return { value: t.str(v("agent.source").quoted) };
    case "packageUrl":
      return { value: t.str(v("agent.packageUrl").quoted) };
    case "packageSha256":
      return { value: t.str(v("agent.packageSha256").quoted) };
    case "downloadTimeout":
      return { value: t.str(`${v("agent.downloadTimeoutSeconds").path} | toString | quote`) };
    case "statusCheckSeconds":
      return { value: t.str(`${v("agent.statusCheckSeconds").path} | toString | quote`) };
    case "maxLifetimeSeconds":
      // With autoscaling, the minReplicas idle agents are refreshed by this alone: one day unless set.
      return {
        value: t.str(`(ternary (default ${autoscalingLifetimeDefault} ${v("agent.maxLifetimeSeconds").path}) ${v("agent.maxLifetimeSeconds").path} ${autoscaling}) | toString | quote`),
      };
    case "podLifecycle":
      return { value: t.str(`ternary "complete" "replace" ${autoscaling} | quote`) };
    case "idleTimeoutSeconds":
      return { value: t.str(`ternary ${v("autoscaling.idleTimeoutSeconds").path} 0 ${autoscaling} | toString | quote`) };
    case "minIdleAgents":
      return { value: t.str(`${v("autoscaling.minReplicas").path} | toString | quote`) };
    case "placeholderAgent":
      return { value: t.str(`ternary (${include(helper.placeholderName)}) "" ${autoscaling} | quote`) };
    case "placeholderCapabilities":
      return { value: t.str(`${v("agent.capabilities").path} | toJson | quote`) };
    case "stopGraceSeconds":
      return { value: t.str(`${v("terminationGracePeriodSeconds").path} | toString | quote`) };
    case "agentIgnore":
      return { value: t.str(`${include(helper.extraEnvNames)} | quote`) };
    case "connectAttempts":
      return { value: t.str(`${v("agent.connectAttempts").path} | toString | quote`) };
    case "retrySeconds":
      return { value: t.str(`${v("agent.removeRetrySeconds").path} | toString | quote`) };
    case "deployment":
      return { value: t.str(`${fullname()} | quote`) };
    case "smokeMinAgents":
      return { value: t.str(`ternary ${v("autoscaling.minReplicas").path} ${v("replicaCount").path} ${autoscaling} | toString | quote`) };
    case "smokeTimeout":
      return { value: t.str(`${v("tests.timeoutSeconds").path} | toString | quote`) };
    case "gcOfflineGrace":
      return { value: t.str(`${v("gc.offlineGraceSeconds").path} | toString | quote`) };
    case "gcDryRun":
      return { value: t.str(`${v("gc.dryRun").path} | toString | quote`) };
  }
}

/** Contract variables set only in some `azp.auth` modes (the others would be empty or point nowhere). */
const envCondition: Partial<Record<EnvKey, string>> = {
  tokenFile: auth.secret,
  tenantId: `ne ${v("azp.auth").path} "pat"`,
  clientId: `ne ${v("azp.auth").path} "pat"`,
  authorityHost: `ne ${v("azp.auth").path} "pat"`,
  federatedTokenFile: auth.federated,
};

export function contractEnv(t: TemplateDocument, command: ImageCommand): IEnvVar[] {
  return envFor(command).flatMap((key) => {
    const variable = env(key, contractEnvValue(t, key));
    const condition = envCondition[key];
    return condition === undefined ? [variable] : t.whenItems(condition, [variable]);
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

/** The parts every container of the chart shares: image, pull policy, hardened security context. */
export function baseContainer(t: TemplateDocument, name: string, command: ImageCommand): IContainer {
  return {
    name,
    image: t.str(`${include(helper.image)} | quote`),
    imagePullPolicy: t.str<"Always" | "IfNotPresent" | "Never">(v("image.pullPolicy").quoted),
    command: [imageContract.commands[command]],
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
