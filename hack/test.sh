#!/usr/bin/env bash
# Runs every test: vet, unit tests, and the end-to-end tests against a real peapod server and real kubectl.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
go vet ./...
go test -count=1 -timeout 60m ./...
