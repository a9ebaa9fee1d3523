package openapi

import (
	"fmt"
	"sort"
	"strings"
	"unicode"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/util"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// definitionNamer names definitions as kube-apiserver does: the REST friendly form of the Go type name
// ("io.k8s.api.core.v1.Pod"), with x-kubernetes-group-version-kind listing every kind the type is served as.
type definitionNamer struct {
	kinds map[string][]schema.GroupVersionKind // Go type name ("k8s.io/api/core/v1.Pod") -> kinds
}

func newDefinitionNamer(scheme *runtime.Scheme) *definitionNamer {
	n := &definitionNamer{kinds: map[string][]schema.GroupVersionKind{}}
	for gvk, t := range scheme.AllKnownTypes() {
		if gvk.Version == runtime.APIVersionInternal {
			continue
		}
		name := t.PkgPath() + "." + t.Name()
		n.kinds[name] = append(n.kinds[name], gvk)
	}
	for _, kinds := range n.kinds {
		sort.Slice(kinds, func(i, j int) bool {
			a, b := kinds[i], kinds[j]
			if a.Group != b.Group {
				return a.Group < b.Group
			}
			if a.Version != b.Version {
				return a.Version < b.Version
			}
			return a.Kind < b.Kind
		})
	}
	return n
}

// typeNames returns the Go type names of the kinds, sorted.
func (n *definitionNamer) typeNames() []string {
	names := make([]string, 0, len(n.kinds))
	for name := range n.kinds {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// name implements common.Config.GetDefinitionName.
func (n *definitionNamer) name(typeName string) (string, spec.Extensions) {
	kinds, ok := n.kinds[typeName]
	if !ok {
		return util.ToRESTFriendlyName(typeName), nil
	}
	// The shape (a list of string maps) is what clients and the managedfields type converter parse.
	list := make([]interface{}, 0, len(kinds))
	for _, gvk := range kinds {
		list = append(list, map[string]interface{}{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind})
	}
	return util.ToRESTFriendlyName(typeName), spec.Extensions{extensionGVK: list}
}

// operationVerbs are the prefixes of kube-apiserver operation names. As there, the shortest prefix wins, so
// "deletecollectionNamespacedPod" becomes "deleteCoreV1CollectionNamespacedPod".
func operationVerbs() []string {
	return []string{"get", "log", "read", "replace", "patch", "delete", "watch", "connect", "proxy", "list", "create"}
}

// operationIDAndTags implements common.Config.GetOperationIDAndTagsFromRoute the way kube-apiserver does: the
// group and version go after the verb ("listNamespacedPod" at /api/v1 becomes "listCoreV1NamespacedPod") and
// the tag is "<group>_<version>" ("core_v1", "coordination_v1").
func operationIDAndTags(r common.Route) (string, []string, error) {
	op := r.OperationName()
	verb := ""
	for _, v := range operationVerbs() {
		if strings.HasPrefix(op, v) {
			verb = v
			break
		}
	}
	if verb == "" {
		return op, nil, fmt.Errorf("operation %q does not start with a verb", op)
	}
	parts := strings.Split(strings.Trim(r.Path(), "/"), "/")
	if parts[0] == "api" {
		parts = append([]string{"apis", "core"}, parts[1:]...)
	}
	id, tags := verb, []string(nil)
	if len(parts) >= 2 && parts[0] == "apis" {
		group := strings.TrimSuffix(parts[1], ".k8s.io")
		id += camel(group, true)
		tag := camel(group, false)
		if len(parts) > 2 {
			id += camel(parts[2], true)
			tag += "_" + camel(parts[2], false)
		}
		tags = []string{tag}
	}
	return id + camel(op[len(verb):], true), tags, nil
}

// camel drops punctuation and capitalises the letter after it (and the first one if upper is set):
// "coordination.k8s" -> "CoordinationK8s".
func camel(s string, upper bool) string {
	var b strings.Builder
	capitalize := upper
	for i, r := range s {
		if unicode.IsLetter(r) || r == '_' || (i != 0 && unicode.IsDigit(r)) {
			if capitalize {
				r = unicode.ToUpper(r)
				capitalize = false
			}
			b.WriteRune(r)
		} else {
			capitalize = true
		}
	}
	return b.String()
}
