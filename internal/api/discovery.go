package api

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/peapod-dev/peapod/internal/registry"
)

// apiGroup is one API group with its versions, preferred (first registered) version first.
type apiGroup struct {
	name     string
	versions []*apiGroupVersion
}

// apiGroupVersion is one served group version: its resources and the discovery document listing them.
type apiGroupVersion struct {
	gv           schema.GroupVersion
	resources    map[string]*registry.Resource
	resourceList *metav1.APIResourceList
	// selectableFields holds, per resource, the field labels field selectors may use.
	selectableFields map[string]sets.Set[string]
}

// subresourceVerbs and subresourceKinds describe subresources in discovery as Kubernetes lists them.
var subresourceVerbs = map[string][]string{
	"status":              {"get", "patch", "update"},
	"binding":             {"create"},
	"finalize":            {"update"},
	"log":                 {"get"},
	"exec":                {"create", "get"},
	"attach":              {"create", "get"},
	"portforward":         {"create", "get"},
	"eviction":            {"create"},
	"ephemeralcontainers": {"get", "patch", "update"},
	"proxy":               {"create", "delete", "get", "patch", "update"},
}

var subresourceKinds = map[string]string{
	"binding":     "Binding",
	"log":         "Pod",
	"exec":        "PodExecOptions",
	"attach":      "PodAttachOptions",
	"portforward": "PodPortForwardOptions",
	"eviction":    "Eviction",
	"proxy":       "PodProxyOptions",
}

// buildDiscovery indexes the registry's resources by group version and precomputes the documents.
func (h *handler) buildDiscovery(resources []*registry.Resource) error {
	groups := map[string]*apiGroup{}
	for _, res := range resources {
		gv := res.GroupVersion
		agv, ok := h.versions[gv]
		if !ok {
			agv = &apiGroupVersion{
				gv:               gv,
				resources:        map[string]*registry.Resource{},
				resourceList:     &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()},
				selectableFields: map[string]sets.Set[string]{},
			}
			h.versions[gv] = agv
			g, ok := groups[gv.Group]
			if !ok {
				g = &apiGroup{name: gv.Group}
				groups[gv.Group] = g
				if gv.Group == "" {
					h.groups = append([]*apiGroup{g}, h.groups...)
				} else {
					h.groups = append(h.groups, g)
				}
			}
			g.versions = append(g.versions, agv)
		}
		if _, dup := agv.resources[res.Name]; dup {
			return fmt.Errorf("api: resource %s registered twice in %s", res.Name, gv)
		}
		agv.resources[res.Name] = res
		agv.selectableFields[res.Name] = selectableFieldLabels(res)
		agv.resourceList.APIResources = append(agv.resourceList.APIResources, discoveryEntries(res)...)
		if gv.Group == "" && gv.Version == "v1" && res.Name == "namespaces" {
			h.namespaces = res
		}
	}
	return nil
}

// selectableFieldLabels are the field labels of res: metadata.name and metadata.namespace always, plus
// whatever the strategy reports for an empty object.
func selectableFieldLabels(res *registry.Resource) sets.Set[string] {
	labels := sets.New("metadata.name", "metadata.namespace")
	var set fields.Set = res.Strategy.SelectableFields(res.New())
	for k := range set {
		labels.Insert(k)
	}
	return labels
}

// discoveryEntries lists res and its subresources as /api/v1 lists them.
func discoveryEntries(res *registry.Resource) []metav1.APIResource {
	entries := []metav1.APIResource{{
		Name:               res.Name,
		SingularName:       res.SingularName,
		Namespaced:         res.Namespaced,
		Kind:               res.Kind,
		Verbs:              res.Verbs,
		ShortNames:         res.ShortNames,
		Categories:         res.Categories,
		StorageVersionHash: storageVersionHash(res.GroupVersionKind()),
	}}
	for _, sub := range res.Subresources {
		kind := res.Kind
		if k, ok := subresourceKinds[sub]; ok {
			kind = k
		}
		entry := metav1.APIResource{Name: res.Name + "/" + sub, Namespaced: res.Namespaced, Kind: kind, Verbs: subresourceVerbs[sub]}
		if sub == "eviction" {
			entry.Group, entry.Version = "policy", "v1"
		}
		entries = append(entries, entry)
	}
	for _, sub := range res.KindSubresources {
		entries = append(entries, metav1.APIResource{
			Name: res.Name + "/" + sub.Name, Namespaced: res.Namespaced,
			Group: sub.Kind.Group, Version: sub.Kind.Version, Kind: sub.Kind.Kind, Verbs: sub.Verbs,
		})
	}
	return entries
}

// storageVersionHash is kube-apiserver's: base64 of the first 8 bytes of sha256("group/version/kind").
func storageVersionHash(gvk schema.GroupVersionKind) string {
	sum := sha256.Sum256([]byte(gvk.Group + "/" + gvk.Version + "/" + gvk.Kind))
	return base64.StdEncoding.EncodeToString(sum[:8])
}

// serveCoreVersions serves /api.
func (h *handler) serveCoreVersions(w http.ResponseWriter, r *http.Request) {
	doc := metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}}
	for _, g := range h.groups {
		if g.name != "" {
			continue
		}
		for _, v := range g.versions {
			doc.Versions = append(doc.Versions, v.gv.Version)
		}
	}
	doc.ServerAddressByClientCIDRs = serverAddresses(r)
	writeJSON(w, r, http.StatusOK, doc)
}

// serveGroupList serves /apis: every named group.
func (h *handler) serveGroupList(w http.ResponseWriter, r *http.Request) {
	list := metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}, Groups: []metav1.APIGroup{}}
	for _, g := range h.groups {
		if g.name != "" {
			list.Groups = append(list.Groups, g.document())
		}
	}
	writeJSON(w, r, http.StatusOK, list)
}

// serveGroup serves /apis/<group>.
func (h *handler) serveGroup(w http.ResponseWriter, r *http.Request, name string) {
	for _, g := range h.groups {
		if g.name == name && name != "" {
			doc := g.document()
			doc.TypeMeta = metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}
			writeJSON(w, r, http.StatusOK, doc)
			return
		}
	}
	writeError(w, r, notFoundPath())
}

func (g *apiGroup) document() metav1.APIGroup {
	doc := metav1.APIGroup{Name: g.name}
	for _, v := range g.versions {
		doc.Versions = append(doc.Versions, metav1.GroupVersionForDiscovery{GroupVersion: v.gv.String(), Version: v.gv.Version})
	}
	doc.PreferredVersion = doc.Versions[0]
	return doc
}

// serverAddresses is the address clients reach us at, as kube-apiserver reports it for 0.0.0.0/0.
func serverAddresses(r *http.Request) []metav1.ServerAddressByClientCIDR {
	host := r.Host
	if _, _, err := net.SplitHostPort(host); err != nil {
		return nil
	}
	return []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: host}}
}
