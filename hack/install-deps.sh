#!/usr/bin/env bash
# Installs what peapod and its tests need on a fresh Debian 12 machine. Idempotent.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
need=()
for pkg in ca-certificates git; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if ((${#need[@]})); then
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
	echo "add /usr/local/go/bin to PATH" >&2
fi
command -v go >/dev/null || { echo "Go 1.26+ is required (https://go.dev/dl)" >&2; exit 1; }
