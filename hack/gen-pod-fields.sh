#!/bin/sh
# Regenerates docs/pod-fields.md from the Pod field support table (internal/registry/pod/fields/table.go).
# internal/registry/pod/fields's tests fail while the committed file is stale.
set -eu
cd "$(dirname "$0")/.."
go run ./internal/registry/pod/fields/gen -o docs/pod-fields.md
