import { release } from "../contract/release.ts";

/**
 * Named templates of `_helpers.tpl`, namespaced by the chart name (Helm best practices,
 * bitnami `common`). Templates refer to them through `helper.X`, never by a typed string;
 * helpers.ts defines them.
 */
const chart = release.chartName;
export const helper = {
  name: `${chart}.name`,
  fullname: `${chart}.fullname`,
  chart: `${chart}.chart`,
  namespace: `${chart}.namespace`,
  labels: `${chart}.labels`,
  selectorLabels: `${chart}.selectorLabels`,
  serviceAccountName: `${chart}.serviceAccountName`,
  refreshServiceAccountName: `${chart}.refreshServiceAccountName`,
  refreshName: `${chart}.refreshName`,
  gcServiceAccountName: `${chart}.gcServiceAccountName`,
  gcName: `${chart}.gcName`,
  secretName: `${chart}.secretName`,
  secretKey: `${chart}.secretKey`,
  image: `${chart}.image`,
  validate: `${chart}.validate`,
  proxyEnv: `${chart}.proxyEnv`,
  extraEnvNames: `${chart}.extraEnvNames`,
  release: `${chart}.release`,
  placeholderName: `${chart}.placeholderName`,
  kedaDemands: `${chart}.kedaDemands`,
  kedaCheck: `${chart}.kedaCheck`,
  cidrHolds: `${chart}.cidrHolds`,
  metadataExcept: `${chart}.metadataExcept`,
  networkPolicyCheck: `${chart}.networkPolicyCheck`,
  admissionPolicyName: `${chart}.admissionPolicyName`,
  admissionPolicyCheck: `${chart}.admissionPolicyCheck`,
} as const;

/** `include "<name>" .` — the expression form templates embed. */
export const include = (name: string): string => `include "${name}" .`;
