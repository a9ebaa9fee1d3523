package coordination

import (
	"context"
	"reflect"
	"sort"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func TestLeaseDiscovery(t *testing.T) {
	r := Leases()
	if r.GroupVersion.String() != "coordination.k8s.io/v1" || r.Kind != "Lease" || r.Name != "leases" || r.SingularName != "lease" {
		t.Errorf("resource %s %s %s %s", r.GroupVersion, r.Kind, r.Name, r.SingularName)
	}
	if !r.Namespaced || len(r.ShortNames) != 0 || len(r.Categories) != 0 || len(r.Subresources) != 0 {
		t.Errorf("namespaced %v shortNames %v categories %v subresources %v", r.Namespaced, r.ShortNames, r.Categories, r.Subresources)
	}
	if want := []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}; !reflect.DeepEqual(r.Verbs, want) {
		t.Errorf("verbs %v", r.Verbs)
	}
	if _, ok := r.New().(*coordinationv1.Lease); !ok {
		t.Errorf("New gives %T", r.New())
	}
	if _, ok := r.NewList().(*coordinationv1.LeaseList); !ok {
		t.Errorf("NewList gives %T", r.NewList())
	}
}

func TestLeaseTable(t *testing.T) {
	s := Leases().Strategy
	var names []string
	for _, c := range s.TableColumns() {
		names = append(names, c.Name)
		if c.Priority != 0 || c.Description == "" {
			t.Errorf("column %+v", c)
		}
	}
	if !reflect.DeepEqual(names, []string{"Name", "Holder", "Age"}) {
		t.Errorf("columns %v", names)
	}
	tests := []struct {
		lease *coordinationv1.Lease
		want  []interface{}
	}{
		{&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "node1", CreationTimestamp: metav1.NewTime(time.Now().Add(-3 * 24 * time.Hour))},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("node1")}}, []interface{}{"node1", "node1", "3d"}},
		{&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "free"}}, []interface{}{"free", "", "<unknown>"}},
	}
	for _, tc := range tests {
		got, err := s.TableRow(tc.lease)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("row %#v, want %#v", got, tc.want)
		}
	}
	if _, err := s.TableRow(&corev1.Pod{}); err == nil {
		t.Error("TableRow accepted a Pod")
	}
}

func TestLeaseValidation(t *testing.T) {
	ctx := context.Background()
	meta := metav1.ObjectMeta{Name: "node1", Namespace: "kube-node-lease", ResourceVersion: "1"}
	tests := []struct {
		name string
		spec coordinationv1.LeaseSpec
		want []string
	}{
		{"heartbeat", coordinationv1.LeaseSpec{HolderIdentity: ptr.To("node1"), LeaseDurationSeconds: ptr.To[int32](40),
			RenewTime: ptr.To(metav1.NewMicroTime(time.Now()))}, nil},
		{"zero duration", coordinationv1.LeaseSpec{LeaseDurationSeconds: ptr.To[int32](0)}, []string{"FieldValueInvalid spec.leaseDurationSeconds"}},
		{"negative transitions", coordinationv1.LeaseSpec{LeaseTransitions: ptr.To[int32](-1)}, []string{"FieldValueInvalid spec.leaseTransitions"}},
		{"unknown strategy", coordinationv1.LeaseSpec{Strategy: ptr.To[coordinationv1.CoordinatedLeaseStrategy]("Newest")},
			[]string{"FieldValueNotSupported spec.strategy.strategy"}},
		{"custom strategy must be qualified", coordinationv1.LeaseSpec{Strategy: ptr.To[coordinationv1.CoordinatedLeaseStrategy]("example.com/-x")},
			[]string{"FieldValueInvalid spec.strategy.strategy"}},
		{"preferred holder without strategy", coordinationv1.LeaseSpec{PreferredHolder: ptr.To("a")},
			[]string{"FieldValueForbidden spec.preferredHolder"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lease := &coordinationv1.Lease{ObjectMeta: meta, Spec: tc.spec}
			for _, errs := range [][]string{
				summary(Leases().Strategy.Validate(ctx, lease)),
				summary(Leases().Strategy.ValidateUpdate(ctx, lease, lease.DeepCopy())),
			} {
				if !reflect.DeepEqual(errs, tc.want) {
					t.Errorf("errors %q, want %q", errs, tc.want)
				}
			}
		})
	}
	if got := summary(Leases().Strategy.Validate(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "x"}})); !reflect.DeepEqual(got, []string{"FieldValueRequired metadata.namespace"}) {
		t.Errorf("lease without namespace: %v", got)
	}
}

func summary(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	sort.Strings(out)
	return out
}

func TestLeaseDropsCoordinatedElectionFields(t *testing.T) {
	ctx := context.Background()
	s := Leases().Strategy
	lease := &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{
		Strategy: ptr.To(coordinationv1.OldestEmulationVersion), PreferredHolder: ptr.To("a")}}
	s.PrepareForCreate(ctx, lease)
	if lease.Spec.Strategy != nil || lease.Spec.PreferredHolder != nil || lease.Generation != 0 {
		t.Errorf("after create %+v", lease)
	}

	// An update may keep fields the lease already had, but not introduce them.
	had := &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{Strategy: ptr.To(coordinationv1.OldestEmulationVersion)}}
	upd := &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{
		Strategy: ptr.To(coordinationv1.OldestEmulationVersion), PreferredHolder: ptr.To("a")}}
	s.PrepareForUpdate(ctx, upd, had)
	if upd.Spec.Strategy == nil || upd.Spec.PreferredHolder != nil {
		t.Errorf("after update %+v", upd.Spec)
	}
}
