package core

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"

	"github.com/peapod-dev/peapod/internal/registry"
)

const (
	// nodeRolePrefix labels carry a node's roles: node-role.kubernetes.io/<role>.
	nodeRolePrefix = "node-role.kubernetes.io/"
	// nodeRoleLabel is the older single-role label kubernetes.io/role=<role>.
	nodeRoleLabel = "kubernetes.io/role"
)

// Nodes is the nodes resource: cluster-scoped, with a status subresource the node agent writes.
func Nodes() *registry.Resource {
	return &registry.Resource{
		GroupVersion: groupVersion(),
		Kind:         "Node",
		Name:         "nodes",
		SingularName: "node",
		ShortNames:   []string{"no"},
		Namespaced:   false,
		Verbs:        allVerbs(),
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &corev1.Node{} },
		NewList:      func() runtime.Object { return &corev1.NodeList{} },
		Strategy:     NodeStrategy{},
	}
}

// NodeStrategy is Kubernetes' node strategy (pkg/registry/core/node). Unlike most resources, a node keeps
// the status it is created with: the node agent registers itself with its status filled in.
type NodeStrategy struct{ registry.DefaultStrategy }

// Default copies capacity to allocatable when allocatable is unset, as Kubernetes' v1 defaulter does.
func (NodeStrategy) Default(obj runtime.Object) {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	if node.Status.Allocatable == nil && node.Status.Capacity != nil {
		node.Status.Allocatable = node.Status.Capacity.DeepCopy()
	}
}

// PrepareForCreate drops the removed dynamic kubelet config fields. Nodes carry no metadata.generation.
func (NodeStrategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	node.Spec.ConfigSource = nil
	node.Status.Config = nil
}

func (s NodeStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return typeError("Node", obj)
	}
	return s.validateNode(node)
}

func (s NodeStrategy) validateNode(node *corev1.Node) field.ErrorList {
	allErrs := s.ValidateMeta(node)
	if len(node.Spec.Taints) > 0 {
		// Kubernetes reports taint errors under metadata.taints, not spec.taints; kept for identical messages.
		allErrs = append(allErrs, validateNodeTaints(node.Spec.Taints, field.NewPath("metadata", "taints"))...)
	}
	allErrs = append(allErrs, validateNodeResources(node)...)
	if len(node.Spec.PodCIDRs) > 0 {
		podCIDRsPath := field.NewPath("spec", "podCIDRs")
		for i, cidr := range node.Spec.PodCIDRs {
			allErrs = append(allErrs, validation.IsValidCIDRForLegacyField(podCIDRsPath.Index(i), cidr, false, nil)...)
		}
		if len(node.Spec.PodCIDRs) > 1 {
			dualStack, err := netutils.IsDualStackCIDRStrings(node.Spec.PodCIDRs)
			if err != nil {
				allErrs = append(allErrs, field.InternalError(podCIDRsPath, fmt.Errorf("invalid PodCIDRs. failed to check with dual stack with error:%v", err)))
			}
			if !dualStack || len(node.Spec.PodCIDRs) > 2 {
				allErrs = append(allErrs, field.Invalid(podCIDRsPath, node.Spec.PodCIDRs, "may specify no more than one CIDR for each IP family"))
			}
		}
	}
	return allErrs
}

// validateNodeTaints checks each taint's key, value and effect, and that no key/effect pair repeats.
func validateNodeTaints(taints []corev1.Taint, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	seen := map[corev1.TaintEffect]map[string]bool{}
	for i, taint := range taints {
		idxPath := fldPath.Index(i)
		allErrs = append(allErrs, metavalidation.ValidateLabelName(taint.Key, idxPath.Child("key"))...)
		if errs := validation.IsValidLabelValue(taint.Value); len(errs) != 0 {
			allErrs = append(allErrs, field.Invalid(idxPath.Child("value"), taint.Value, strings.Join(errs, ";")))
		}
		allErrs = append(allErrs, validateTaintEffect(taint.Effect, idxPath.Child("effect"))...)
		if seen[taint.Effect][taint.Key] {
			dup := field.Duplicate(idxPath, taint)
			dup.Detail = "taints must be unique by key and effect pair"
			allErrs = append(allErrs, dup)
			continue
		}
		if seen[taint.Effect] == nil {
			seen[taint.Effect] = map[string]bool{}
		}
		seen[taint.Effect][taint.Key] = true
	}
	return allErrs
}

func validateTaintEffect(effect corev1.TaintEffect, fldPath *field.Path) field.ErrorList {
	switch effect {
	case "":
		return field.ErrorList{field.Required(fldPath, "")}
	case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		return nil
	default:
		valid := []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute}
		return field.ErrorList{field.NotSupported(fldPath, effect, valid)}
	}
}

// validateNodeResources requires capacity and allocatable quantities to be non-negative, and whole for
// countable resources.
func validateNodeResources(node *corev1.Node) field.ErrorList {
	var allErrs field.ErrorList
	for name, q := range node.Status.Capacity {
		allErrs = append(allErrs, validateResourceQuantity(name, q, field.NewPath("status", "capacity", string(name)))...)
	}
	for name, q := range node.Status.Allocatable {
		allErrs = append(allErrs, validateResourceQuantity(name, q, field.NewPath("status", "allocatable", string(name)))...)
	}
	return allErrs
}

func validateResourceQuantity(name corev1.ResourceName, q resource.Quantity, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if q.Cmp(resource.Quantity{}) < 0 {
		allErrs = append(allErrs, field.Invalid(fldPath, q.String(), apivalidation.IsNegativeErrorMsg))
	}
	if isIntegerResourceName(name) && q.MilliValue()%1000 != 0 {
		allErrs = append(allErrs, field.Invalid(fldPath, q, "must be an integer"))
	}
	return allErrs
}

// isIntegerResourceName reports whether a resource is counted in whole units: the object-count resources
// and every extended (vendor-domain) resource.
func isIntegerResourceName(name corev1.ResourceName) bool {
	switch name {
	case corev1.ResourcePods, corev1.ResourceQuotas, corev1.ResourceServices, corev1.ResourceReplicationControllers,
		corev1.ResourceSecrets, corev1.ResourceConfigMaps, corev1.ResourcePersistentVolumeClaims,
		corev1.ResourceServicesNodePorts, corev1.ResourceServicesLoadBalancers:
		return true
	}
	s := string(name)
	native := !strings.Contains(s, "/") || strings.Contains(s, corev1.ResourceDefaultNamespacePrefix)
	if native || strings.HasPrefix(s, corev1.DefaultResourceRequestsPrefix) {
		return false
	}
	return len(validation.IsQualifiedName(corev1.DefaultResourceRequestsPrefix+s)) == 0
}

// PrepareForUpdate keeps status: the main resource may change spec and metadata only.
func (NodeStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	node, ok1 := obj.(*corev1.Node)
	oldNode, ok2 := old.(*corev1.Node)
	if !ok1 || !ok2 {
		return
	}
	node.Status = oldNode.Status
	if oldNode.Spec.ConfigSource == nil {
		node.Spec.ConfigSource = nil
	}
}

func (s NodeStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	node, ok1 := obj.(*corev1.Node)
	oldNode, ok2 := old.(*corev1.Node)
	if !ok1 || !ok2 {
		return typeError("Node", obj)
	}
	return append(s.validateNode(node), s.validateNodeUpdate(node, oldNode)...)
}

// validateNodeUpdate holds Kubernetes' update rules: podCIDRs and providerID are set once, externalID
// never changes, addresses are unique.
func (s NodeStrategy) validateNodeUpdate(node, oldNode *corev1.Node) field.ErrorList {
	allErrs := s.ValidateMetaUpdate(node, oldNode)
	allErrs = append(allErrs, validateNodeResources(node)...)

	seen := map[corev1.NodeAddress]bool{}
	for i, addr := range node.Status.Addresses {
		if seen[addr] {
			allErrs = append(allErrs, field.Duplicate(field.NewPath("status", "addresses").Index(i), addr))
		}
		seen[addr] = true
	}

	if len(oldNode.Spec.PodCIDRs) > 0 {
		changed := len(oldNode.Spec.PodCIDRs) != len(node.Spec.PodCIDRs)
		for i := 0; !changed && i < len(oldNode.Spec.PodCIDRs); i++ {
			changed = oldNode.Spec.PodCIDRs[i] != node.Spec.PodCIDRs[i]
		}
		if changed {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
		}
	}
	if oldNode.Spec.ProviderID != "" && oldNode.Spec.ProviderID != node.Spec.ProviderID {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	if len(node.Spec.Taints) > 0 {
		allErrs = append(allErrs, validateNodeTaints(node.Spec.Taints, field.NewPath("metadata", "taints"))...)
	}
	if node.Spec.DoNotUseExternalID != oldNode.Spec.DoNotUseExternalID {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "externalID"), "may not be updated"))
	}
	return allErrs
}

// PrepareForStatusUpdate keeps spec: the status subresource may change status and metadata only.
func (NodeStrategy) PrepareForStatusUpdate(_ context.Context, obj, old runtime.Object) {
	node, ok1 := obj.(*corev1.Node)
	oldNode, ok2 := old.(*corev1.Node)
	if !ok1 || !ok2 {
		return
	}
	node.Spec = oldNode.Spec
	if oldNode.Status.Config == nil {
		node.Status.Config = nil
	}
}

func (s NodeStrategy) ValidateStatusUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	node, ok1 := obj.(*corev1.Node)
	oldNode, ok2 := old.(*corev1.Node)
	if !ok1 || !ok2 {
		return typeError("Node", obj)
	}
	return s.validateNodeUpdate(node, oldNode)
}

// Warnings are Kubernetes' warnings for deprecated node fields and non-canonical pod CIDRs.
func (NodeStrategy) Warnings(_ context.Context, obj, _ runtime.Object) []string {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return nil
	}
	var warnings []string
	if node.Spec.ConfigSource != nil {
		warnings = append(warnings, "spec.configSource: the feature is removed")
	}
	if node.Spec.DoNotUseExternalID != "" {
		warnings = append(warnings, "spec.externalID: this field is deprecated, and is unused by Kubernetes")
	}
	podCIDRsPath := field.NewPath("spec", "podCIDRs")
	for i, cidr := range node.Spec.PodCIDRs {
		warnings = append(warnings, validation.GetWarningsForCIDR(podCIDRsPath.Index(i), cidr)...)
	}
	return warnings
}

func (NodeStrategy) TableColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn(),
		{Name: "Status", Type: "string", Description: "The status of the node"},
		{Name: "Roles", Type: "string", Description: "The roles of the node"},
		ageColumn(),
		{Name: "Version", Type: "string", Description: corev1.NodeSystemInfo{}.SwaggerDoc()["kubeletVersion"]},
		{Name: "Internal-IP", Type: "string", Priority: 1, Description: corev1.NodeStatus{}.SwaggerDoc()["addresses"]},
		{Name: "External-IP", Type: "string", Priority: 1, Description: corev1.NodeStatus{}.SwaggerDoc()["addresses"]},
		{Name: "OS-Image", Type: "string", Priority: 1, Description: corev1.NodeSystemInfo{}.SwaggerDoc()["osImage"]},
		{Name: "Kernel-Version", Type: "string", Priority: 1, Description: corev1.NodeSystemInfo{}.SwaggerDoc()["kernelVersion"]},
		{Name: "Container-Runtime", Type: "string", Priority: 1, Description: corev1.NodeSystemInfo{}.SwaggerDoc()["containerRuntimeVersion"]},
	}
}

func (NodeStrategy) TableRow(obj runtime.Object) ([]interface{}, error) {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return nil, unexpectedType("Node", obj)
	}
	roles := strings.Join(nodeRoles(node), ",")
	if roles == "" {
		roles = "<none>"
	}
	info := node.Status.NodeInfo
	return []interface{}{
		node.Name,
		nodeStatus(node),
		roles,
		registry.Age(node.CreationTimestamp),
		info.KubeletVersion,
		nodeAddress(node, corev1.NodeInternalIP),
		nodeAddress(node, corev1.NodeExternalIP),
		orUnknown(info.OSImage),
		orUnknown(info.KernelVersion),
		orUnknown(info.ContainerRuntimeVersion),
	}, nil
}

// nodeStatus is the STATUS cell: the Ready condition as "Ready", "NotReady" or "Unknown" (no condition),
// plus ",SchedulingDisabled" for a cordoned node.
func nodeStatus(node *corev1.Node) string {
	status := "Unknown"
	for _, c := range node.Status.Conditions {
		if c.Type != corev1.NodeReady {
			continue
		}
		if c.Status == corev1.ConditionTrue {
			status = string(corev1.NodeReady)
		} else {
			status = "Not" + string(corev1.NodeReady)
		}
	}
	if node.Spec.Unschedulable {
		status += ",SchedulingDisabled"
	}
	return status
}

// nodeRoles returns the sorted, distinct roles named by node-role.kubernetes.io/<role> labels and the
// kubernetes.io/role label.
func nodeRoles(node *corev1.Node) []string {
	set := map[string]bool{}
	for k, v := range node.Labels {
		switch {
		case strings.HasPrefix(k, nodeRolePrefix):
			if role := strings.TrimPrefix(k, nodeRolePrefix); role != "" {
				set[role] = true
			}
		case k == nodeRoleLabel && v != "":
			set[v] = true
		}
	}
	roles := make([]string, 0, len(set))
	for r := range set {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	return roles
}

// nodeAddress returns the node's first address of the given type, or "<none>".
func nodeAddress(node *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range node.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return "<none>"
}

func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}

// SelectableFields: metadata.name and spec.unschedulable ("true"/"false").
func (NodeStrategy) SelectableFields(obj runtime.Object) fields.Set {
	set := registry.MetaFields(obj)
	if node, ok := obj.(*corev1.Node); ok {
		set["spec.unschedulable"] = fmt.Sprint(node.Spec.Unschedulable)
	}
	return set
}
