package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

// ErrGroupDiscoveryFailed says the resources of some group versions could not be read; the results
// returned with it cover the others.
type ErrGroupDiscoveryFailed struct {
	Groups map[schema.GroupVersion]error
}

func (e *ErrGroupDiscoveryFailed) Error() string {
	var parts []string
	for gv, err := range e.Groups {
		parts = append(parts, fmt.Sprintf("%s: %v", gv, err))
	}
	slices.Sort(parts)
	return "unable to retrieve the complete list of server APIs: " + strings.Join(parts, ", ")
}

// discovery reads the unaggregated discovery documents (/api, /apis, and each group version's resource
// list) as JSON, which every Kubernetes API server serves.
type discovery struct {
	client rest.Interface
}

func (d discovery) ServerPreferredNamespacedResources(ctx context.Context) ([]*metav1.APIResourceList, error) {
	groups, err := d.groups(ctx)
	if err != nil {
		return nil, err
	}
	var result []*metav1.APIResourceList
	failed := map[schema.GroupVersion]error{}
	for _, group := range groups {
		lists := map[string]*metav1.APIResourceList{}
		for _, version := range group.Versions {
			gv := schema.GroupVersion{Group: group.Name, Version: version.Version}
			list, err := d.resources(ctx, gv)
			if err != nil {
				failed[gv] = err
				continue
			}
			lists[version.Version] = list
		}
		result = append(result, preferredNamespaced(group, lists)...)
	}
	if len(failed) > 0 {
		return result, &ErrGroupDiscoveryFailed{Groups: failed}
	}
	return result, nil
}

// preferredNamespaced picks, from the resource lists of one group's versions, each namespaced resource in
// the group's preferred version, or else in the first version that has it; subresources are left out.
// The lists come back in the group's version order, without empty ones.
func preferredNamespaced(group metav1.APIGroup, lists map[string]*metav1.APIResourceList) []*metav1.APIResourceList {
	order := slices.Clone(group.Versions)
	// The preferred version claims its resources first.
	slices.SortStableFunc(order, func(a, b metav1.GroupVersionForDiscovery) int {
		aPreferred, bPreferred := a.Version == group.PreferredVersion.Version, b.Version == group.PreferredVersion.Version
		switch {
		case aPreferred && !bPreferred:
			return -1
		case bPreferred && !aPreferred:
			return 1
		}
		return 0
	})
	claimed := map[string]bool{}
	picked := map[string][]metav1.APIResource{}
	for _, version := range order {
		list := lists[version.Version]
		if list == nil {
			continue
		}
		for _, r := range list.APIResources {
			if strings.Contains(r.Name, "/") || claimed[r.Name] {
				continue
			}
			claimed[r.Name] = true
			if r.Namespaced {
				picked[version.Version] = append(picked[version.Version], r)
			}
		}
	}
	var result []*metav1.APIResourceList
	for _, version := range group.Versions {
		if resources := picked[version.Version]; len(resources) > 0 {
			result = append(result, &metav1.APIResourceList{GroupVersion: version.GroupVersion, APIResources: resources})
		}
	}
	return result
}

// groups returns the legacy core group (from /api) followed by the named groups (from /apis).
func (d discovery) groups(ctx context.Context) ([]metav1.APIGroup, error) {
	var legacy metav1.APIVersions
	if err := d.get(ctx, "/api", &legacy); err != nil {
		return nil, err
	}
	var groups []metav1.APIGroup
	if len(legacy.Versions) > 0 {
		core := metav1.APIGroup{}
		for _, v := range legacy.Versions {
			core.Versions = append(core.Versions, metav1.GroupVersionForDiscovery{GroupVersion: v, Version: v})
		}
		core.PreferredVersion = core.Versions[0]
		groups = append(groups, core)
	}
	var named metav1.APIGroupList
	if err := d.get(ctx, "/apis", &named); err != nil {
		return nil, err
	}
	return append(groups, named.Groups...), nil
}

func (d discovery) resources(ctx context.Context, gv schema.GroupVersion) (*metav1.APIResourceList, error) {
	path := "/apis/" + gv.String()
	if gv.Group == "" {
		path = "/api/" + gv.Version
	}
	list := &metav1.APIResourceList{}
	if err := d.get(ctx, path, list); err != nil {
		return nil, err
	}
	list.GroupVersion = gv.String()
	return list, nil
}

func (d discovery) get(ctx context.Context, path string, into any) error {
	data, err := d.client.Get().AbsPath(path).SetHeader("Accept", "application/json").Do(ctx).Raw()
	if err != nil {
		return fmt.Errorf("discovery %s: %w", path, err)
	}
	if err := json.Unmarshal(data, into); err != nil {
		return fmt.Errorf("discovery %s: decode: %w", path, err)
	}
	return nil
}
