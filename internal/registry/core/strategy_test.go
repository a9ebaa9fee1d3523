package core

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/peapod-dev/peapod/internal/registry"
)

func TestNamespaceLifecycle(t *testing.T) {
	ctx := context.Background()
	s := Namespaces().Strategy

	ns := &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: "team-a", ResourceVersion: "1", Labels: map[string]string{corev1.LabelMetadataName: "forged", "env": "dev"}},
		Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"example.com/backup"}},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating},
	}
	s.Default(ns)
	s.PrepareForCreate(ctx, ns)
	if got := ns.Spec.Finalizers; !reflect.DeepEqual(got, []corev1.FinalizerName{"example.com/backup", "kubernetes"}) {
		t.Errorf("finalizers after create %v", got)
	}
	if ns.Status.Phase != corev1.NamespaceActive {
		t.Errorf("phase after create %q", ns.Status.Phase)
	}
	if ns.Labels[corev1.LabelMetadataName] != "team-a" || ns.Labels["env"] != "dev" {
		t.Errorf("labels after create %v", ns.Labels)
	}
	if ns.Generation != 0 {
		t.Errorf("generation %d: Kubernetes sets none on namespaces", ns.Generation)
	}
	if errs := s.Validate(ctx, ns); len(errs) != 0 {
		t.Fatalf("valid namespace rejected: %v", errs)
	}

	// A plain update may neither drop the finalizers nor touch status, nor the name label.
	upd := ns.DeepCopy()
	upd.Spec.Finalizers = nil
	upd.Status.Phase = corev1.NamespaceTerminating
	delete(upd.Labels, corev1.LabelMetadataName)
	s.Default(upd)
	s.PrepareForUpdate(ctx, upd, ns)
	if !reflect.DeepEqual(upd.Spec, ns.Spec) || !reflect.DeepEqual(upd.Status, ns.Status) || upd.Labels[corev1.LabelMetadataName] != "team-a" {
		t.Errorf("update changed protected fields: %+v", upd)
	}

	// Status updates keep the spec; the phase must agree with the deletion timestamp.
	st := ns.DeepCopy()
	st.Spec.Finalizers = nil
	st.Status.Phase = corev1.NamespaceTerminating
	s.PrepareForStatusUpdate(ctx, st, ns)
	if !reflect.DeepEqual(st.Spec, ns.Spec) {
		t.Errorf("status update changed spec: %v", st.Spec)
	}
	if got := errorSummary(s.ValidateStatusUpdate(ctx, st, ns)); !reflect.DeepEqual(got, []string{"FieldValueInvalid status.Phase"}) {
		t.Errorf("Terminating without deletionTimestamp: %v", got)
	}

	// Delete: graceful, Terminating, kept while spec.finalizers remain.
	opts := &metav1.DeleteOptions{}
	if !s.CheckGracefulDelete(ctx, ns, opts) {
		t.Fatal("namespace delete is not graceful")
	}
	if opts.GracePeriodSeconds == nil || *opts.GracePeriodSeconds != 0 {
		t.Errorf("grace period %v, want 0", opts.GracePeriodSeconds)
	}
	now := metav1.Now()
	ns.DeletionTimestamp = &now
	s.PrepareForDelete(ctx, ns)
	if ns.Status.Phase != corev1.NamespaceTerminating {
		t.Errorf("phase after delete %q", ns.Status.Phase)
	}
	if s.ReadyToRemove(ns) {
		t.Error("namespace with spec.finalizers ready to remove")
	}

	// The finalize subresource may empty spec.finalizers but not status.
	nsStrategy := s.(NamespaceStrategy)
	fin := ns.DeepCopy()
	fin.Spec.Finalizers = nil
	fin.Status.Phase = corev1.NamespaceActive
	nsStrategy.PrepareForFinalizeUpdate(ctx, fin, ns)
	if fin.Status.Phase != corev1.NamespaceTerminating {
		t.Errorf("finalize changed status to %q", fin.Status.Phase)
	}
	if errs := nsStrategy.ValidateFinalizeUpdate(ctx, fin, ns); len(errs) != 0 {
		t.Errorf("finalize rejected: %v", errs)
	}
	if !s.ReadyToRemove(fin) {
		t.Error("namespace without spec.finalizers not ready to remove")
	}
	bad := ns.DeepCopy()
	bad.Spec.Finalizers = []corev1.FinalizerName{"kubernetes", "nope"}
	if got := errorSummary(nsStrategy.ValidateFinalizeUpdate(ctx, bad, ns)); !reflect.DeepEqual(got, []string{"FieldValueInvalid spec.finalizers[1]"}) {
		t.Errorf("finalize with a bad finalizer: %v", got)
	}
}

func TestNamespaceDefaultKeepsRemovedFinalizers(t *testing.T) {
	// Default runs on every write; if it re-added "kubernetes", a namespace could never finish deleting.
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "x"}}
	Namespaces().Strategy.Default(ns)
	if len(ns.Spec.Finalizers) != 0 || ns.Status.Phase != corev1.NamespaceActive || ns.Labels[corev1.LabelMetadataName] != "x" {
		t.Errorf("defaulted namespace %+v", ns)
	}
	unnamed := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "x-"}}
	Namespaces().Strategy.Default(unnamed)
	if _, ok := unnamed.Labels[corev1.LabelMetadataName]; ok {
		t.Error("name label set before the name is known")
	}
}

func TestImmutableUpdates(t *testing.T) {
	ctx := context.Background()
	meta := metav1.ObjectMeta{Name: "x", Namespace: "default", ResourceVersion: "1"}
	tests := []struct {
		name     string
		strategy registry.Strategy
		old, obj runtime.Object
		want     []string
	}{
		{"mutable configmap changes", ConfigMaps().Strategy,
			&corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{"a": "1"}},
			&corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{"a": "2"}, Immutable: ptr.To(true)}, nil},
		{"immutable configmap", ConfigMaps().Strategy,
			&corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{"a": "1"}, Immutable: ptr.To(true)},
			&corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{"a": "2"}, BinaryData: map[string][]byte{"b": nil}},
			[]string{"FieldValueForbidden binaryData", "FieldValueForbidden data", "FieldValueForbidden immutable"}},
		{"immutable configmap, labels may change", ConfigMaps().Strategy,
			&corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{"a": "1"}, Immutable: ptr.To(true)},
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "default", ResourceVersion: "1", Labels: map[string]string{"k": "v"}},
				Data: map[string]string{"a": "1"}, Immutable: ptr.To(true)}, nil},
		{"immutable secret", Secrets().Strategy,
			&corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"a": []byte("1")}, Immutable: ptr.To(true)},
			&corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"a": []byte("2")}, Immutable: ptr.To(false)},
			[]string{"FieldValueForbidden data", "FieldValueForbidden immutable"}},
		{"secret type is immutable", Secrets().Strategy,
			&corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeOpaque},
			&corev1.Secret{ObjectMeta: meta, Type: "example.com/custom"},
			[]string{"FieldValueInvalid type"}},
		{"namespace is immutable", ConfigMaps().Strategy,
			&corev1.ConfigMap{ObjectMeta: meta},
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "other", ResourceVersion: "1"}},
			[]string{"FieldValueInvalid metadata.namespace"}},
		{"events keep the metadata rules", Events().Strategy,
			&corev1.Event{ObjectMeta: meta, InvolvedObject: corev1.ObjectReference{Namespace: "default"}},
			&corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "y", Namespace: "default", ResourceVersion: "1"}, InvolvedObject: corev1.ObjectReference{Namespace: "default"}},
			[]string{"FieldValueInvalid metadata.name"}},
		{"service account name rules apply on update", ServiceAccounts().Strategy,
			&corev1.ServiceAccount{ObjectMeta: meta},
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "default", ResourceVersion: "1", Labels: map[string]string{"bad key!": "v"}}},
			[]string{"FieldValueInvalid metadata.labels", "FieldValueInvalid metadata.labels"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.strategy.PrepareForUpdate(ctx, tc.obj, tc.old)
			got := errorSummary(tc.strategy.ValidateUpdate(ctx, tc.obj, tc.old))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("errors\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestNodeUpdates(t *testing.T) {
	ctx := context.Background()
	s := Nodes().Strategy
	old := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", ResourceVersion: "1"},
		Spec:       corev1.NodeSpec{PodCIDRs: []string{"10.42.0.0/24"}, ProviderID: "peapod://n1"},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.33.0"}},
	}

	// kubectl label/cordon: spec and metadata change, status is carried over.
	cordon := old.DeepCopy()
	cordon.Spec.Unschedulable = true
	cordon.Status = corev1.NodeStatus{}
	s.PrepareForUpdate(ctx, cordon, old)
	if !reflect.DeepEqual(cordon.Status, old.Status) || !cordon.Spec.Unschedulable {
		t.Errorf("cordon: %+v", cordon)
	}
	if errs := s.ValidateUpdate(ctx, cordon, old); len(errs) != 0 {
		t.Errorf("cordon rejected: %v", errs)
	}

	moved := old.DeepCopy()
	moved.Spec.PodCIDRs = []string{"10.43.0.0/24"}
	moved.Spec.ProviderID = "other://n1"
	moved.Spec.DoNotUseExternalID = "ext"
	want := []string{"FieldValueForbidden spec.externalID", "FieldValueForbidden spec.podCIDRs", "FieldValueForbidden spec.providerID"}
	if got := errorSummary(s.ValidateUpdate(ctx, moved, old)); !reflect.DeepEqual(got, want) {
		t.Errorf("set-once fields: %v, want %v", got, want)
	}

	// The agent's status update keeps spec and may not list an address twice.
	st := old.DeepCopy()
	st.Spec.Unschedulable = true
	st.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.1"}, {Type: corev1.NodeInternalIP, Address: "10.0.0.1"}}
	s.PrepareForStatusUpdate(ctx, st, old)
	if st.Spec.Unschedulable {
		t.Error("status update changed spec")
	}
	if got := errorSummary(s.ValidateStatusUpdate(ctx, st, old)); !reflect.DeepEqual(got, []string{"FieldValueDuplicate status.addresses[1]"}) {
		t.Errorf("duplicate address: %v", got)
	}

	// A node registers with its status, which create keeps; allocatable defaults to capacity.
	created := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"},
		Status: corev1.NodeStatus{Capacity: corev1.ResourceList{"cpu": resource.MustParse("2")}, Phase: corev1.NodeRunning}}
	s.Default(created)
	s.PrepareForCreate(ctx, created)
	if q := created.Status.Allocatable["cpu"]; q.String() != "2" || created.Status.Phase != corev1.NodeRunning || created.Generation != 0 {
		t.Errorf("created node %+v", created.Status)
	}
}

func TestSecretDefault(t *testing.T) {
	secret := &corev1.Secret{
		Data:       map[string][]byte{"a": []byte("from data"), "b": []byte("kept")},
		StringData: map[string]string{"a": "from stringData", "c": "new"},
	}
	Secrets().Strategy.Default(secret)
	want := map[string][]byte{"a": []byte("from stringData"), "b": []byte("kept"), "c": []byte("new")}
	if secret.Type != corev1.SecretTypeOpaque || secret.StringData != nil || !reflect.DeepEqual(secret.Data, want) {
		t.Errorf("defaulted secret %+v", secret)
	}
	typed := &corev1.Secret{Type: corev1.SecretTypeTLS, StringData: map[string]string{"tls.crt": "x"}}
	Secrets().Strategy.Default(typed)
	if typed.Type != corev1.SecretTypeTLS || string(typed.Data["tls.crt"]) != "x" {
		t.Errorf("defaulted tls secret %+v", typed)
	}
}

func TestWarnings(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		strategy registry.Strategy
		obj, old runtime.Object
		want     string // substring of the only warning; "" for none
	}{
		{"tls pair that does not parse", Secrets().Strategy,
			&corev1.Secret{Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": []byte("x"), "tls.key": []byte("y")}}, nil,
			"failed to find any PEM data in certificate input"},
		{"opaque secret", Secrets().Strategy, &corev1.Secret{Type: corev1.SecretTypeOpaque}, nil, ""},
		{"new enforce-mountable-secrets annotation", ServiceAccounts().Strategy,
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"kubernetes.io/enforce-mountable-secrets": "true"}}}, nil,
			"metadata.annotations[kubernetes.io/enforce-mountable-secrets]: deprecated in v1.32+"},
		{"kept enforce-mountable-secrets annotation", ServiceAccounts().Strategy,
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"kubernetes.io/enforce-mountable-secrets": "true"}}},
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"kubernetes.io/enforce-mountable-secrets": "true"}}}, ""},
		{"node external ID", Nodes().Strategy, &corev1.Node{Spec: corev1.NodeSpec{DoNotUseExternalID: "x"}}, nil,
			"spec.externalID: this field is deprecated, and is unused by Kubernetes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.strategy.Warnings(ctx, tc.obj, tc.old)
			switch {
			case tc.want == "" && len(got) != 0:
				t.Errorf("warnings %q, want none", got)
			case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want)):
				t.Errorf("warnings %q, want one containing %q", got, tc.want)
			}
		})
	}
}

func TestServiceAccountSecretReferences(t *testing.T) {
	sa := &corev1.ServiceAccount{Secrets: []corev1.ObjectReference{{Name: "tok", Namespace: "other", UID: "u", Kind: "Secret"}}}
	ServiceAccounts().Strategy.PrepareForCreate(context.Background(), sa)
	if !reflect.DeepEqual(sa.Secrets, []corev1.ObjectReference{{Name: "tok"}}) || sa.Generation != 0 {
		t.Errorf("service account after create %+v", sa)
	}
}

func TestNoGenerationOnCreate(t *testing.T) {
	// Kubernetes only tracks metadata.generation for resources with a spec that controllers act on.
	for _, r := range []*registry.Resource{Events(), ConfigMaps(), Secrets()} {
		obj := r.New()
		r.Strategy.PrepareForCreate(context.Background(), obj)
		if g := obj.(metav1.Object).GetGeneration(); g != 0 {
			t.Errorf("%s: generation %d", r.Name, g)
		}
	}
}

func TestAgeColumn(t *testing.T) {
	// Age cells come from registry.Age; a five-hour-old object prints "5h" for the next thirty seconds.
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", CreationTimestamp: metav1.NewTime(time.Now().Add(-5 * time.Hour))}}
	cells, err := ConfigMaps().Strategy.TableRow(cm)
	if err != nil {
		t.Fatal(err)
	}
	if cells[2] != "5h" {
		t.Errorf("age %v", cells[2])
	}
}
