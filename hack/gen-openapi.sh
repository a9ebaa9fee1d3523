#!/usr/bin/env bash
# Regenerates internal/openapi/generated from the k8s.io/api Go types with kube-openapi's openapi-gen, the
# generator Kubernetes itself uses, at the kube-openapi version pinned in go.mod. The output is committed, so
# builds never need the generator; run this after bumping k8s.io/api, k8s.io/apimachinery or kube-openapi.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

# The type packages whose definitions peapod serves, with everything they reference.
packages=(
	k8s.io/api/core/v1
	k8s.io/api/coordination/v1
	k8s.io/apimachinery/pkg/apis/meta/v1
	k8s.io/apimachinery/pkg/runtime
	k8s.io/apimachinery/pkg/api/resource
	k8s.io/apimachinery/pkg/util/intstr
	k8s.io/apimachinery/pkg/version
)
module=$(go list -m -f '{{.Path}}')
out_pkg="$module/internal/openapi/generated"
kube_openapi=$(go list -m -f '{{.Version}}' k8s.io/kube-openapi)
# The golang.org/x/tools that kube-openapi's go.mod asks for does not compile with Go 1.26
# (go/token internals changed), so the generator is built in a scratch module with a newer one.
x_tools=v0.52.0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(
	cd "$work"
	go mod init peapod.local/openapi-gen >/dev/null 2>&1
	go get "k8s.io/kube-openapi/cmd/openapi-gen@$kube_openapi" "golang.org/x/tools@$x_tools" >/dev/null 2>&1
	go build -o openapi-gen k8s.io/kube-openapi/cmd/openapi-gen
)

# API rule violations are Kubernetes' own (it keeps them in an exceptions list); they go to a scratch report
# so that they neither fail the run nor end up in the tree.
"$work/openapi-gen" \
	--output-dir internal/openapi/generated \
	--output-pkg "$out_pkg" \
	--output-file zz_generated.openapi.go \
	--report-filename "$work/violations.report" \
	"${packages[@]}" 2> >(grep -v 'Making unsupported type entry' >&2)
gofmt -l internal/openapi/generated | (! grep .) || { echo "generated code is not gofmt-clean" >&2; exit 1; }
echo "wrote internal/openapi/generated/zz_generated.openapi.go (openapi-gen $kube_openapi)"
