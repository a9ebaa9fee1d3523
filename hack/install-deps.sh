#!/usr/bin/env bash
# Installs what peapod and its tests need on a fresh Debian 12 machine. Idempotent.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
need=()
# runc/crun run containers, busybox-static builds the test images, iproute2 and nftables inspect and
# clean the host network, etcd-server backs the clustered store, podman is the benchmark's yardstick.
for pkg in ca-certificates git iproute2 nftables runc crun busybox-static etcd-server podman catatonit; do
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
