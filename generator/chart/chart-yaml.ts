import yaml from "js-yaml";
import { imageContract } from "../contract/image.ts";
import { devStamp, imageRepositoryIn, release, signKeyUrl, type ReleaseStamp } from "../contract/release.ts";
import { generatedHeader } from "../generated-header.ts";
import { changesFor } from "./changelog.ts";

/**
 * Chart.yaml: release coordinates plus the annotations chart catalogs (Artifact Hub) read.
 * `changelog` is CHANGELOG.md's text; `stamp` is what a release adds (image digest, signing key).
 */
export function chartYaml(changelog: string, stamp: ReleaseStamp = devStamp): string {
  const reference = `${imageRepositoryIn(stamp.registry)}:${release.imageTag}${stamp.imageDigest === "" ? "" : `@${stamp.imageDigest}`}`;
  const signKey =
    stamp.signKeyFingerprint === undefined ? {} : { "artifacthub.io/signKey": yaml.dump({ fingerprint: stamp.signKeyFingerprint, url: signKeyUrl() }) };
  const chart = {
    apiVersion: "v2",
    name: release.chartName,
    description: release.description,
    type: "application",
    version: release.chartVersion,
    appVersion: release.imageTag,
    kubeVersion: release.kubeVersion,
    home: release.home,
    sources: [release.home],
    keywords: ["azure-devops", "azure-pipelines", "agent", "ci", "ephemeral"],
    maintainers: [{ name: "azp-agent maintainers", url: release.home }],
    annotations: {
      "artifacthub.io/category": "integration-delivery",
      "artifacthub.io/license": release.license,
      "artifacthub.io/prerelease": String(release.chartVersion.startsWith("0.")),
      "artifacthub.io/images": yaml.dump([{ name: release.imageName, image: reference, platforms: ["linux/amd64", "linux/arm64"] }]),
      "artifacthub.io/changes": yaml.dump(changesFor(changelog, release.chartVersion), { lineWidth: -1 }),
      "artifacthub.io/links": yaml.dump([
        { name: "Chart source", url: release.home },
        { name: "Changelog", url: `${release.home}/blob/v${release.chartVersion}/CHANGELOG.md` },
        { name: "Signing key (cosign)", url: signKeyUrl() },
      ]),
      ...signKey,
      "azp-agent/agent-version": release.agentVersion,
      "azp-agent/image-uid": String(imageContract.user.uid),
    },
  };
  return `${generatedHeader.hash("generator/chart/chart-yaml.ts", "generator/contract/release.ts or CHANGELOG.md")}\n${yaml.dump(chart, { lineWidth: -1 })}`;
}
