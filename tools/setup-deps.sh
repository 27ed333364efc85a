#!/usr/bin/env bash
# Installs the Debian packages Tessera builds against. Idempotent, and quick when everything is present.
set -euo pipefail

packages=(build-essential cmake ninja-build ccache pkg-config
          qt6-base-dev qt6-base-dev-tools libqt6svg6-dev
          libopencv-dev libsqlite3-dev nlohmann-json3-dev libpcre2-dev
          xvfb xauth)
if [[ "${TESSERA_NO_QT:-0}" == 1 ]]; then
  packages=(build-essential cmake ninja-build ccache pkg-config nlohmann-json3-dev libpcre2-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "tessera: installing ${missing[*]}"
sudo=""
if [[ $(id -u) != 0 ]]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
