# shellcheck shell=bash
# The one place where the chart-validation toolchain is pinned.
# Sourced (never executed) by tools/install-tools.sh, tools/kube-schemas.sh and tests.
# Changing a value here makes the next `bash tools/install-tools.sh` reinstall that tool.
# shellcheck disable=SC2034  # variables are consumed by the scripts that source this file

# Go tools, built from the Go module proxy (`go install module/cmd@version`).
HELM_VERSION="v3.22.0"          # helm.sh/helm/v3 (newest v3 the proxy serves)
CT_VERSION="v3.14.0"            # github.com/helm/chart-testing/v3
KUBECONFORM_VERSION="v0.8.0"    # github.com/yannh/kubeconform

# Release toolchain (tools/release.sh), also built from the Go module proxy.
COSIGN_VERSION="v2.6.5"         # github.com/sigstore/cosign/v2: signs and verifies image + chart
SYFT_VERSION="v1.57.2"          # github.com/anchore/syft: the SBOM attached as an attestation
CRANE_VERSION="v0.22.1"         # github.com/google/go-containerregistry: multi-arch index, digests
ACTIONLINT_VERSION="v1.7.12"    # github.com/rhysd/actionlint: lints .github/workflows

# Python tools, from PyPI into .cache/tools/venv (both support Python 3.11).
YAMLLINT_VERSION="1.38.0"       # requires Python >= 3.10
YAMALE_VERSION="6.1.0"          # requires Python >= 3.8

# Kubernetes versions whose OpenAPI spec (module k8s.io/kubernetes on the Go proxy)
# is turned into kubeconform JSON schemas (tools/kube-schemas.sh).
# The chart declares kubeVersion ">=1.29.0-0": validate against the newest patch
# of its lowest minor (1.29) and the newest stable release the proxy serves.
# Space-separated, without the leading "v" (kubeconform -kubernetes-version form).
KUBE_SCHEMA_VERSIONS="1.29.15 1.37.2"
