#!/usr/bin/env bash
# Installs the chart-validation toolchain, pinned by tools/versions.sh, into
# <repo>/.cache/tools/bin:
#   helm, ct, kubeconform   built from the Go module proxy (go install module/cmd@version)
#   cosign, syft, crane,    the release toolchain (tools/release.sh) and the workflow linter,
#   actionlint              built the same way
#   yamllint, yamale        from PyPI into the venv <repo>/.cache/tools/venv
# and then derives kubeconform's JSON schemas offline (tools/kube-schemas.sh).
#
# Idempotent: every tool has a stamp file (.cache/tools/stamps/<tool>) holding what it
# was built from; a warm re-run only compares stamps, a changed pin reinstalls that tool.
# Go builds use the default GOMODCACHE/GOCACHE so clones on one machine share them.
#
# Usage: bash tools/install-tools.sh [all|chart|release]   (from any directory; default all)
#        chart = helm, ct, kubeconform, yamllint, yamale; release = cosign, syft, crane, actionlint
# Then:  export PATH="<repo>/.cache/tools/bin:$PATH"   (this script exports nothing)
# Env:   GO=/path/to/go   to choose the Go toolchain (default: go on PATH, else /usr/local/go/bin/go)
#        PYTHON=python3.x to choose the Python for the venv (default: python3)
set -Eeuo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
# shellcheck source=tools/versions.sh
source "$REPO/tools/versions.sh"

TOOLS_DIR="$REPO/.cache/tools"
BIN_DIR="$TOOLS_DIR/bin"
STAMP_DIR="$TOOLS_DIR/stamps"
VENV_DIR="$TOOLS_DIR/venv"
# Bump when the way a tool is built changes (flags, layout), to invalidate old stamps.
RECIPE="r2"

mkdir -p "$BIN_DIR" "$STAMP_DIR"

log() { printf '%s\n' "$*"; }
die() { printf 'install-tools: error: %s\n' "$*" >&2; exit 1; }

# One installer at a time per tree (concurrent runs wait instead of racing on the venv).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$TOOLS_DIR/.install.lock"
  flock 9
fi

stamp_matches() { # <tool> <expected stamp text>
  [[ -x "$BIN_DIR/$1" && -f "$STAMP_DIR/$1" && "$(<"$STAMP_DIR/$1")" == "$2" ]]
}
write_stamp() { printf '%s\n' "$2" >"$STAMP_DIR/$1"; }

# ---------------------------------------------------------------------------- Go
GO_BIN=""
find_go() {
  [[ -n "$GO_BIN" ]] && return 0
  if [[ -n "${GO:-}" ]]; then
    GO_BIN="$GO"
  elif command -v go >/dev/null 2>&1; then
    GO_BIN="$(command -v go)"
  elif [[ -x /usr/local/go/bin/go ]]; then
    GO_BIN=/usr/local/go/bin/go
  else
    die "Go toolchain not found (set GO=/path/to/go or put go on PATH)"
  fi
}

# Runs go outside any module and workspace (module queries only).
gocmd() {
  (cd "$TOOLS_DIR" && GOWORK=off GO111MODULE=on GOFLAGS=-mod=mod "$GO_BIN" "$@")
}

# Downloads module@version (verified against the checksum database through the proxy)
# and prints `go mod download -json` output.
mod_download_json() { # <module> <version>
  gocmd mod download -json "$1@$2" || die "cannot download $1@$2 from the Go module proxy"
}
json_path_field() { # <field> : reads `go mod download -json` output on stdin
  sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}\$/\1/p"
}

# Prints a field of the proxy's .info for module@version ("Hash" = commit, "Time").
mod_info_field() { # <module> <version> <field>
  local info
  info="$(mod_download_json "$1" "$2" | json_path_field Info)"
  [[ -f "$info" ]] || return 0
  tr -d '\n' <"$info" | sed -n "s/.*\"$3\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p"
}

# Builds <module>/<subdir>@<version> into BIN_DIR/<tool> with the given -ldflags.
# This is what `GOBIN=BIN_DIR go install <module>/<subdir>@<version>` does (the module's
# own go.mod/go.sum decide every dependency), done by hand because `go install pkg@version`
# also fetches <module>/@v/list to look for a deprecation notice, and the proxy answers
# 403 for some modules' lists (github.com/helm/chart-testing/v3), which go treats as fatal.
go_install() { # <tool> <module> <subdir> <version> <ldflags>
  local tool="$1" module="$2" subdir="$3" version="$4" ldflags="$5" dir
  rm -f "$BIN_DIR/$tool" "$STAMP_DIR/$tool"
  dir="$(mod_download_json "$module" "$version" | json_path_field Dir)"
  [[ -n "$dir" && -f "$dir/go.mod" ]] || die "no module directory for $module@$version"
  (cd "$dir" && CGO_ENABLED=0 GOWORK=off GO111MODULE=on GOFLAGS=-mod=readonly \
    "$GO_BIN" build -trimpath -ldflags "$ldflags" -o "$BIN_DIR/$tool.tmp" "./$subdir") \
    || die "building $module/$subdir@$version failed"
  mv -f "$BIN_DIR/$tool.tmp" "$BIN_DIR/$tool"
}

install_helm() {
  local want="helm $HELM_VERSION $RECIPE"
  if stamp_matches helm "$want"; then log "helm        $HELM_VERSION (cached)"; return; fi
  find_go
  local gomod kmin commit
  gomod="$(mod_download_json helm.sh/helm/v3 "$HELM_VERSION" | json_path_field GoMod)"
  # Helm's Makefile derives the Kubernetes version it assumes by default (the
  # .Capabilities.KubeVersion of `helm template`/`helm lint`) from its client-go
  # version v0.N.x -> 1.N; without it the default is v1.20 and a chart declaring
  # kubeVersion ">=1.29.0-0" would fail `helm lint`.
  kmin="$(sed -n 's/^[[:space:]]*k8s\.io\/client-go v0\.\([0-9][0-9]*\)\..*/\1/p' "$gomod" | head -n1)"
  [[ -n "$kmin" ]] || die "cannot read the k8s.io/client-go version from $gomod"
  commit="$(mod_info_field helm.sh/helm/v3 "$HELM_VERSION" Hash)"
  local p=helm.sh/helm/v3
  local ldflags="-s -w -X $p/internal/version.version=$HELM_VERSION"
  # The proxy's .info names the commit for some modules only.
  if [[ -n "$commit" ]]; then
    ldflags+=" -X $p/internal/version.gitCommit=$commit -X $p/internal/version.gitTreeState=clean"
  fi
  ldflags+=" -X $p/pkg/lint/rules.k8sVersionMajor=1 -X $p/pkg/lint/rules.k8sVersionMinor=$kmin"
  ldflags+=" -X $p/pkg/chartutil.k8sVersionMajor=1 -X $p/pkg/chartutil.k8sVersionMinor=$kmin"
  go_install helm "$p" cmd/helm "$HELM_VERSION" "$ldflags"
  local out
  out="$("$BIN_DIR/helm" version --template '{{ .Version }}')"
  [[ "$out" == "$HELM_VERSION" ]] || die "built helm reports version '$out', expected $HELM_VERSION"
  write_stamp helm "$want"
  log "helm        $HELM_VERSION (installed)"
}

install_ct() {
  local want="ct $CT_VERSION $RECIPE"
  if stamp_matches ct "$want"; then log "ct          $CT_VERSION (cached)"; return; fi
  find_go
  local commit date p=github.com/helm/chart-testing/v3
  commit="$(mod_info_field "$p" "$CT_VERSION" Hash)"
  date="$(mod_info_field "$p" "$CT_VERSION" Time)"
  local ldflags="-s -w -X $p/ct/cmd.Version=$CT_VERSION"
  ldflags+=" -X $p/ct/cmd.GitCommit=${commit:-unknown} -X $p/ct/cmd.BuildDate=${date:-unknown}"
  go_install ct "$p" ct "$CT_VERSION" "$ldflags"
  local out
  out="$("$BIN_DIR/ct" version)"
  [[ "$out" == *"$CT_VERSION"* ]] || die "built ct does not report $CT_VERSION: $out"
  write_stamp ct "$want"
  log "ct          $CT_VERSION (installed)"
}

install_kubeconform() {
  local want="kubeconform $KUBECONFORM_VERSION $RECIPE"
  if stamp_matches kubeconform "$want"; then log "kubeconform $KUBECONFORM_VERSION (cached)"; return; fi
  find_go
  go_install kubeconform github.com/yannh/kubeconform cmd/kubeconform "$KUBECONFORM_VERSION" \
    "-s -w -X main.version=$KUBECONFORM_VERSION"
  local out
  out="$("$BIN_DIR/kubeconform" -v)"
  [[ "$out" == "$KUBECONFORM_VERSION" ]] || die "built kubeconform reports '$out', expected $KUBECONFORM_VERSION"
  write_stamp kubeconform "$want"
  log "kubeconform $KUBECONFORM_VERSION (installed)"
}

# A Go tool whose `<tool> <version args>` output contains its pinned version.
install_go_tool() { # <tool> <module> <subdir> <version> <ldflags> <version args...>
  local tool="$1" module="$2" subdir="$3" version="$4" ldflags="$5"
  shift 5
  local want="$tool $version $RECIPE"
  if stamp_matches "$tool" "$want"; then log "$(printf '%-11s' "$tool") $version (cached)"; return; fi
  find_go
  go_install "$tool" "$module" "$subdir" "$version" "$ldflags"
  local out
  out="$("$BIN_DIR/$tool" "$@" 2>&1)" || die "built $tool does not run: $out"
  [[ "$out" == *"${version#v}"* ]] || die "built $tool does not report ${version#v}: $out"
  write_stamp "$tool" "$want"
  log "$(printf '%-11s' "$tool") $version (installed)"
}

install_release_tools() {
  install_go_tool cosign github.com/sigstore/cosign/v2 cmd/cosign "$COSIGN_VERSION" \
    "-s -w -X sigs.k8s.io/release-utils/version.gitVersion=$COSIGN_VERSION" version
  install_go_tool syft github.com/anchore/syft cmd/syft "$SYFT_VERSION" \
    "-s -w -X main.version=${SYFT_VERSION#v}" version
  install_go_tool crane github.com/google/go-containerregistry cmd/crane "$CRANE_VERSION" \
    "-s -w -X github.com/google/go-containerregistry/cmd/crane/cmd.Version=$CRANE_VERSION" version
  install_go_tool actionlint github.com/rhysd/actionlint cmd/actionlint "$ACTIONLINT_VERSION" \
    "-s -w -X github.com/rhysd/actionlint.version=$ACTIONLINT_VERSION" -version
}

# ------------------------------------------------------------------------ Python
PYTHON="${PYTHON:-python3}"

venv_ok() {
  [[ -x "$VENV_DIR/bin/python" ]] && "$VENV_DIR/bin/python" -c 'import sys' >/dev/null 2>&1
}

ensure_venv() {
  if ! venv_ok; then
    command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (needed for yamllint/yamale)"
    rm -rf "$VENV_DIR"
    "$PYTHON" -m venv "$VENV_DIR" || die "'$PYTHON -m venv' failed (on Debian: apt-get install python3-venv)"
  fi
}

install_pip_tool() { # <tool> <pypi name> <version>
  local tool="$1" dist="$2" version="$3"
  local want="$tool $version $RECIPE"
  # The stamp is only trusted while the venv's interpreter still runs.
  if stamp_matches "$tool" "$want" && venv_ok; then
    log "$(printf '%-11s' "$tool") $version (cached)"; return
  fi
  ensure_venv
  rm -f "$STAMP_DIR/$tool"
  "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    "$dist==$version" || die "pip install $dist==$version failed"
  ln -sfn "../venv/bin/$tool" "$BIN_DIR/$tool"
  local got
  got="$("$VENV_DIR/bin/python" -c 'import sys
from importlib.metadata import version
print(version(sys.argv[1]))' "$dist")"
  [[ "$got" == "$version" ]] || die "$dist in the venv is $got, expected $version"
  "$BIN_DIR/$tool" --help >/dev/null || die "$tool does not run"
  write_stamp "$tool" "$want"
  log "$(printf '%-11s' "$tool") $version (installed)"
}

# -------------------------------------------------------------------------- main
install_chart_tools() {
  install_helm
  install_ct
  install_kubeconform
  install_pip_tool yamllint yamllint "$YAMLLINT_VERSION"
  install_pip_tool yamale yamale "$YAMALE_VERSION"
}

case "${1:-all}" in
  chart) install_chart_tools ;;
  release) install_release_tools ;;
  all) install_chart_tools && install_release_tools ;;
  *) die "usage: install-tools.sh [all|chart|release], got '$1'" ;;
esac

bash "$REPO/tools/kube-schemas.sh"

log "tools ready in $BIN_DIR; use them with: export PATH=\"$BIN_DIR:\$PATH\""
