/**
 * The agent pools the tests seed the fake Azure DevOps with, named once for every layer (fake,
 * image, e2e). The chart's ci scenarios name pools of their own (generator/chart/scenarios.ts);
 * the e2e cluster seeds those from the scenario files.
 */
export const testPools = {
  /** The pool the agents of the image and e2e tests register in. */
  agents: "k8s-pool",
  /** A deployment pool (poolType deployment): never the agents'. */
  deployment: "deploy-pool",
  /** A second agent pool. */
  other: "other-pool",
  /** The second team's pool of the e2e teams test. */
  teamB: "team-b-pool",
} as const;
