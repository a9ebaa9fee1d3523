// Package coordination holds the rules of the coordination.k8s.io/v1 resources: leases, which node agents
// renew as heartbeats and controllers use for leader election.
package coordination

import (
	"context"
	"fmt"
	"slices"
	"strings"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod-dev/peapod/internal/registry"
)

// Leases is the leases resource of coordination.k8s.io/v1.
func Leases() *registry.Resource {
	return &registry.Resource{
		GroupVersion: coordinationv1.SchemeGroupVersion,
		Kind:         "Lease",
		Name:         "leases",
		SingularName: "lease",
		Namespaced:   true,
		Verbs:        []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"},
		New:          func() runtime.Object { return &coordinationv1.Lease{} },
		NewList:      func() runtime.Object { return &coordinationv1.LeaseList{} },
		Strategy:     LeaseStrategy{registry.DefaultStrategy{Namespaced: true}},
	}
}

// LeaseStrategy is Kubernetes' lease strategy (pkg/registry/coordination/lease) with the
// CoordinatedLeaderElection feature off, as it is by default.
type LeaseStrategy struct{ registry.DefaultStrategy }

// PrepareForCreate drops the coordinated-leader-election fields. Leases carry no metadata.generation.
func (LeaseStrategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	if lease, ok := obj.(*coordinationv1.Lease); ok {
		lease.Spec.Strategy = nil
		lease.Spec.PreferredHolder = nil
	}
}

// PrepareForUpdate drops the coordinated-leader-election fields unless the lease already had them.
func (LeaseStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	lease, ok1 := obj.(*coordinationv1.Lease)
	oldLease, ok2 := old.(*coordinationv1.Lease)
	if !ok1 || !ok2 {
		return
	}
	if oldLease.Spec.Strategy == nil {
		lease.Spec.Strategy = nil
	}
	if oldLease.Spec.PreferredHolder == nil {
		lease.Spec.PreferredHolder = nil
	}
}

func (s LeaseStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	lease, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("expected *v1.Lease, got %T", obj))}
	}
	return append(s.ValidateMeta(lease), validateLeaseSpec(&lease.Spec, field.NewPath("spec"))...)
}

func (s LeaseStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	lease, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("expected *v1.Lease, got %T", obj))}
	}
	return append(s.ValidateMetaUpdate(obj, old), validateLeaseSpec(&lease.Spec, field.NewPath("spec"))...)
}

// validateLeaseSpec: a positive duration, non-negative transitions, a known or qualified strategy, and a
// preferred holder only with a strategy.
func validateLeaseSpec(spec *coordinationv1.LeaseSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if spec.LeaseDurationSeconds != nil && *spec.LeaseDurationSeconds <= 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("leaseDurationSeconds"), spec.LeaseDurationSeconds, "must be greater than 0"))
	}
	if spec.LeaseTransitions != nil && *spec.LeaseTransitions < 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("leaseTransitions"), spec.LeaseTransitions, "must be greater than or equal to 0"))
	}
	if spec.Strategy != nil {
		allErrs = append(allErrs, validateLeaseStrategy(*spec.Strategy, fldPath.Child("strategy"))...)
	}
	if spec.PreferredHolder != nil && *spec.PreferredHolder != "" && (spec.Strategy == nil || *spec.Strategy == "") {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("preferredHolder"), "may only be specified if `strategy` is defined"))
	}
	return allErrs
}

// validateLeaseStrategy accepts Kubernetes' own strategy names and qualified (domain/name) custom ones.
// Kubernetes reports errors at spec.strategy.strategy; kept for identical messages.
func validateLeaseStrategy(strategy coordinationv1.CoordinatedLeaseStrategy, fldPath *field.Path) field.ErrorList {
	if !strings.Contains(string(strategy), "/") {
		valid := []coordinationv1.CoordinatedLeaseStrategy{coordinationv1.OldestEmulationVersion}
		if !slices.Contains(valid, strategy) {
			return field.ErrorList{field.NotSupported(fldPath.Child("strategy"), strategy, valid)}
		}
		return nil
	}
	var allErrs field.ErrorList
	for _, msg := range validation.IsQualifiedName(string(strategy)) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("strategy"), strategy, msg))
	}
	return allErrs
}

func (LeaseStrategy) TableColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
		{Name: "Holder", Type: "string", Description: coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]},
		{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
	}
}

func (LeaseStrategy) TableRow(obj runtime.Object) ([]interface{}, error) {
	lease, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return nil, fmt.Errorf("expected *v1.Lease, got %T", obj)
	}
	holder := ""
	if lease.Spec.HolderIdentity != nil {
		holder = *lease.Spec.HolderIdentity
	}
	return []interface{}{lease.Name, holder, registry.Age(lease.CreationTimestamp)}, nil
}
