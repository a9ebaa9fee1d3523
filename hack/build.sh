#!/bin/sh
# Builds peapod and peapod-shim (the per-pod monitor and pause, which peapod finds next to itself) into
# bin/, or into $OUT. VERSION sets peapod's version string.
set -eu
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
ldflags=""
if [ -n "${VERSION:-}" ]; then
	ldflags="-X github.com/peapod-dev/peapod/internal/version.Peapod=$VERSION"
fi
out="${OUT:-bin}"
mkdir -p "$out"
# The shim runs twice per pod: static (no libc, Go's own small thread stacks) and without symbols.
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/" ./cmd/peapod-shim
go build -trimpath -ldflags "$ldflags" -o "$out/" ./cmd/peapod
