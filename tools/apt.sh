# shellcheck shell=bash
# apt_install PKG...: installs the Debian packages that are missing, quietly; refreshes the
# package lists once if the first attempt fails (a fresh machine may have none).
# Sourced by tools/docker-up.sh, tools/host-packages.sh and test/cluster/build.sh.

apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q "install ok installed" || missing+=("${pkg}")
  done
  ((${#missing[@]} == 0)) && return 0
  printf 'apt: installing %s\n' "${missing[*]}" >&2
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}
