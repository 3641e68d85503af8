#!/usr/bin/env bash
#
# Publishes a release: the multi-arch agent image and the chart, signed, with SBOMs, verified
# back from the registry. The GitHub workflow (.github/workflows/release.yml) and the tests
# (test/release/) call exactly this.
#
# Usage: tools/release.sh --key cosign.key [--registry R] [--out DIR] [--no-tlog]
#                         [--base-image-amd64 B] [--base-image-arm64 B]
#                         [--agent-package-url U --agent-package-sha256 S]
#   --key         cosign private key (its password in COSIGN_PASSWORD); the public key is
#                 derived from it and published next to the release (DIR/cosign.pub)
#   --registry    OCI namespace to publish to (default: the contract's release.registry,
#                 README "Releasing"); 127.0.0.1 / localhost registries are spoken to over HTTP
#   --out         where the release's files go (default dist/release): the chart .tgz, one SPDX
#                 SBOM per architecture, cosign.pub, release.json (every reference and digest)
#   --no-tlog     sign without the public transparency log (Rekor) — offline tests only
#   --base-image-<arch>, --agent-package-url/-sha256: passed to tools/build-image.sh
#
# Steps: build linux/amd64 and linux/arm64 images (tools/build-image.sh; arm64 under QEMU when the
# machine is amd64) → push each, then a multi-arch index tagged <version> (crane) → SPDX SBOM of
# each architecture (syft) → cosign: sign the index and every platform image, attest each SBOM →
# stamp the chart with the registry and the index digest (generator/cli.ts --stamp-out), package,
# push, sign → verify all of it from the registry with the public key only.
# Registry credentials: docker's (docker login / ~/.docker/config.json), which helm, crane, syft
# and cosign all read.
# Exit codes: 0 published and verified; 2 usage; 3 a tool or service is missing; 1 a step failed.
set -Eeuo pipefail

RELEASE_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
RELEASE_BIN="${RELEASE_REPO}/.cache/tools/bin"
RELEASE_PLATFORMS=(amd64 arm64)

release_log() { printf 'release: %s\n' "$*" >&2; }
release_die() {
  local code="$1"
  shift
  release_log "error: $*"
  exit "${code}"
}

# release_setting <key>: a field of the release contract (generator/contract/release.ts).
release_setting() {
  (cd "${RELEASE_REPO}" && npx --no-install tsx -e \
    "import('./generator/contract/release.ts').then((m) => console.log(m.release['$1']))")
}

# release_plain_http <registry>: 0 when the registry is local and speaks HTTP (the tests').
release_plain_http() {
  case "${1%%/*}" in
    127.0.0.1:* | localhost:* | 127.0.0.1 | localhost) return 0 ;;
    *) return 1 ;;
  esac
}

release_cosign() { "${RELEASE_BIN}/cosign" "$@"; }
release_crane() {
  local -a insecure=()
  release_plain_http "${RELEASE_REGISTRY}" && insecure=(--insecure)
  "${RELEASE_BIN}/crane" "${insecure[@]}" "$@"
}

# release_image <arch> <base image or ""> <package args...>: builds and pushes one platform's
# image; prints its manifest digest.
release_image() {
  local arch="$1" base="$2"
  shift 2
  local local_tag="local/azp-agent:${RELEASE_VERSION}-${arch}"
  local remote="${RELEASE_IMAGE}:${RELEASE_VERSION}-linux-${arch}"
  local -a args=(--platform "${arch}" --tag "${local_tag}")
  [[ -z "${base}" ]] || args+=(--base-image "${base}")
  # build-image.sh checks the base's and the result's architecture itself.
  bash "${RELEASE_REPO}/tools/build-image.sh" "${args[@]}" "$@" >/dev/null
  "${RELEASE_DOCKER}" tag "${local_tag}" "${remote}"
  "${RELEASE_DOCKER}" push "${remote}" >&2
  release_crane digest "${remote}"
}

# release_sbom <arch> <digest> <file>: SPDX JSON of the pushed image, read from the registry.
release_sbom() {
  local arch="$1" digest="$2" file="$3"
  local -a env=(SYFT_CHECK_FOR_APP_UPDATE=false)
  release_plain_http "${RELEASE_REGISTRY}" && env+=(SYFT_REGISTRY_INSECURE_USE_HTTP=true)
  env "${env[@]}" "${RELEASE_BIN}/syft" scan --quiet --platform "linux/${arch}" \
    "registry:${RELEASE_IMAGE}@${digest}" --output "spdx-json=${file}"
  [[ -s "${file}" ]] || release_die 1 "syft wrote no SBOM for ${arch}"
}

# release_sign <reference by digest> [attest predicate]: cosign sign / attest with the key.
release_sign() {
  local reference="$1" predicate="${2:-}"
  local -a common=(--key "${RELEASE_KEY}" --yes "${RELEASE_TLOG[@]}")
  release_plain_http "${RELEASE_REGISTRY}" && common+=(--allow-http-registry)
  if [[ -z "${predicate}" ]]; then
    release_cosign sign "${common[@]}" "${reference}" >&2
  else
    release_cosign attest "${common[@]}" --type spdxjson --predicate "${predicate}" "${reference}" >&2
  fi
}

# release_verify <reference by digest> [attestation]: cosign verify with the public key only.
release_verify() {
  local reference="$1" attestation="${2:-}"
  local -a common=(--key "${RELEASE_OUT}/cosign.pub" "${RELEASE_VERIFY_TLOG[@]}" --output text)
  release_plain_http "${RELEASE_REGISTRY}" && common+=(--allow-http-registry)
  if [[ -z "${attestation}" ]]; then
    release_cosign verify "${common[@]}" "${reference}" >/dev/null
  else
    release_cosign verify-attestation "${common[@]}" --type spdxjson "${reference}" >/dev/null
  fi
  release_log "verified ${attestation:+SBOM attestation of }${reference}"
}

release_main() {
  local key="" out="${RELEASE_REPO}/dist/release" tlog=true
  local -A bases=()
  local -a package_args=()
  RELEASE_REGISTRY=""
  while (($# > 0)); do
    case "$1" in
      --key | --registry | --out | --base-image-amd64 | --base-image-arm64 | --agent-package-url | --agent-package-sha256)
        (($# >= 2)) || release_die 2 "$1 needs a value"
        case "$1" in
          --key) key="$2" ;;
          --registry) RELEASE_REGISTRY="$2" ;;
          --out) out="$2" ;;
          --base-image-*) bases["${1#--base-image-}"]="$2" ;;
          *) package_args+=("$1" "$2") ;;
        esac
        shift 2
        ;;
      --no-tlog) tlog=false; shift ;;
      -h | --help) sed -n '/^# Usage:/,/^# Steps/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' | sed '$d' >&2; return 0 ;;
      *) release_die 2 "unknown argument: $1 (see --help)" ;;
    esac
  done
  [[ -n "${key}" ]] || release_die 2 "--key <cosign private key> is required (create one with: cosign generate-key-pair)"
  [[ -f "${key}" ]] || release_die 2 "--key ${key}: no such file"
  [[ -n "${COSIGN_PASSWORD+set}" ]] || release_die 2 "COSIGN_PASSWORD is not set (the password of ${key}; export it, empty if the key has none)"

  bash "${RELEASE_REPO}/tools/install-tools.sh" >/dev/null
  (cd "${RELEASE_REPO}" && npx --no-install tsx generator/cli.ts >/dev/null)
  RELEASE_DOCKER="$(command -v /usr/bin/docker || command -v docker || true)"
  if [[ -z "${RELEASE_DOCKER}" ]] || ! "${RELEASE_DOCKER}" info >/dev/null 2>&1; then
    release_die 3 "no Docker engine reachable (bash tools/docker-up.sh engine)"
  fi

  RELEASE_VERSION="$(release_setting imageTag)"
  RELEASE_REGISTRY="${RELEASE_REGISTRY:-$(release_setting registry)}"
  RELEASE_REGISTRY="${RELEASE_REGISTRY%/}"
  RELEASE_IMAGE="${RELEASE_REGISTRY}/$(release_setting imageName)"
  local chart_ref
  chart_ref="${RELEASE_REGISTRY}/charts/$(release_setting chartName)"
  RELEASE_KEY="${key}"
  RELEASE_OUT="${out}"
  RELEASE_TLOG=()
  RELEASE_VERIFY_TLOG=()
  if [[ "${tlog}" == false ]]; then
    RELEASE_TLOG=(--tlog-upload=false)
    RELEASE_VERIFY_TLOG=(--insecure-ignore-tlog=true)
  fi
  rm -rf "${out}" && mkdir -p "${out}"
  release_cosign public-key --key "${key}" --outfile "${out}/cosign.pub" >/dev/null 2>&1 \
    || release_die 2 "cosign cannot read ${key} with the given COSIGN_PASSWORD"
  local fingerprint
  fingerprint="$(sha256sum "${out}/cosign.pub" | cut -d' ' -f1)"
  release_log "publishing ${RELEASE_VERSION} to ${RELEASE_REGISTRY} (key fingerprint ${fingerprint})"

  local arch
  local -A digests=()
  for arch in "${RELEASE_PLATFORMS[@]}"; do
    release_log "image linux/${arch}"
    digests["${arch}"]="$(release_image "${arch}" "${bases[${arch}]:-}" "${package_args[@]}")"
  done
  local index_args=()
  for arch in "${RELEASE_PLATFORMS[@]}"; do index_args+=(--manifest "${RELEASE_IMAGE}@${digests[${arch}]}"); done
  release_crane index append "${index_args[@]}" --tag "${RELEASE_IMAGE}:${RELEASE_VERSION}" >/dev/null
  local index
  index="$(release_crane digest "${RELEASE_IMAGE}:${RELEASE_VERSION}")"
  release_log "image index ${RELEASE_IMAGE}:${RELEASE_VERSION}@${index}"

  release_sign "${RELEASE_IMAGE}@${index}"
  for arch in "${RELEASE_PLATFORMS[@]}"; do
    release_sbom "${arch}" "${digests[${arch}]}" "${out}/sbom-linux-${arch}.spdx.json"
    release_sign "${RELEASE_IMAGE}@${digests[${arch}]}"
    release_sign "${RELEASE_IMAGE}@${digests[${arch}]}" "${out}/sbom-linux-${arch}.spdx.json"
  done

  release_log "chart stamped with ${RELEASE_IMAGE}:${RELEASE_VERSION}@${index}"
  local staging="${out}/chart-staging" chart
  chart="$(cd "${RELEASE_REPO}" && npx --no-install tsx generator/cli.ts --stamp-out "${staging}" \
    --registry "${RELEASE_REGISTRY}" --image-digest "${index}" --sign-key-fingerprint "${fingerprint}")"
  "${RELEASE_BIN}/helm" lint --strict "${chart}" >/dev/null
  local package
  package="$("${RELEASE_BIN}/helm" package "${chart}" --destination "${out}" | sed -n 's/^Successfully packaged chart and saved it to: //p')"
  [[ -f "${package}" ]] || release_die 1 "helm package did not report the chart it wrote"
  rm -rf "${staging}"
  local -a plain=()
  release_plain_http "${RELEASE_REGISTRY}" && plain=(--plain-http)
  local pushed chart_digest
  pushed="$("${RELEASE_BIN}/helm" push "${package}" "oci://${RELEASE_REGISTRY}/charts" "${plain[@]}" 2>&1)" \
    || release_die 1 "helm push failed: ${pushed}"
  chart_digest="$(sed -n 's/^Digest: //p' <<<"${pushed}")"
  [[ "${chart_digest}" =~ ^sha256:[a-f0-9]{64}$ ]] || release_die 1 "helm push printed no digest: ${pushed}"
  release_sign "${chart_ref}@${chart_digest}"

  release_log "verifying from the registry with ${out}/cosign.pub"
  local manifest platforms
  manifest="$(release_crane manifest "${RELEASE_IMAGE}:${RELEASE_VERSION}")"
  platforms="$(jq -r '[.manifests[].platform | "\(.os)/\(.architecture)"] | sort | join(",")' <<<"${manifest}")"
  [[ "${platforms}" == "linux/amd64,linux/arm64" ]] || release_die 1 "the index lists platforms '${platforms}', expected linux/amd64,linux/arm64"
  release_verify "${RELEASE_IMAGE}@${index}"
  for arch in "${RELEASE_PLATFORMS[@]}"; do
    release_verify "${RELEASE_IMAGE}@${digests[${arch}]}"
    release_verify "${RELEASE_IMAGE}@${digests[${arch}]}" attestation
  done
  release_verify "${chart_ref}@${chart_digest}"

  jq -n --arg version "${RELEASE_VERSION}" --arg registry "${RELEASE_REGISTRY}" --arg image "${RELEASE_IMAGE}" \
    --arg index "${index}" --arg amd64 "${digests[amd64]}" --arg arm64 "${digests[arm64]}" \
    --arg chart "${chart_ref}" --arg chartDigest "${chart_digest}" --arg package "$(basename "${package}")" \
    --arg fingerprint "${fingerprint}" --argjson tlog "${tlog}" \
    '{version: $version, registry: $registry,
      image: {repository: $image, tag: $version, digest: $index, platforms: {"linux/amd64": $amd64, "linux/arm64": $arm64},
              sboms: {"linux/amd64": "sbom-linux-amd64.spdx.json", "linux/arm64": "sbom-linux-arm64.spdx.json"}},
      chart: {reference: ("oci://" + $chart), version: $version, digest: $chartDigest, package: $package},
      signing: {publicKey: "cosign.pub", fingerprint: $fingerprint, transparencyLog: $tlog}}' >"${out}/release.json"
  release_log "done: ${out}/release.json"
  printf '%s\n' "${out}/release.json"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  release_main "$@"
fi
