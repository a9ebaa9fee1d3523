package kubefake

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clienttesting "k8s.io/client-go/testing"
)

func TestSubresourcesAreRecordedAsClientGoRecordsThem(t *testing.T) {
	ctx := context.Background()
	ns := &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: "doomed"},
		Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}},
	}
	c := NewClientset(ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "web"}})

	finalized := ns.DeepCopy()
	finalized.Spec.Finalizers = nil
	if _, err := c.Namespaces().Finalize(ctx, finalized, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
	if err != nil || len(got.Spec.Finalizers) != 0 {
		t.Errorf("after Finalize: %v, err %v; want no finalizers", got.Spec.Finalizers, err)
	}
	binding := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "web"}, Target: corev1.ObjectReference{Name: "node1"}}
	if err := c.Pods("team").Bind(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	var recorded []string
	for _, a := range c.Actions() {
		recorded = append(recorded, a.GetVerb()+" "+a.GetNamespace()+" "+a.GetResource().Resource+"/"+a.GetSubresource())
	}
	for _, want := range []string{"create  namespaces/finalize", "create team pods/binding"} {
		found := false
		for _, r := range recorded {
			found = found || r == want
		}
		if !found {
			t.Errorf("actions %q lack %q", recorded, want)
		}
	}
}

func TestReactorsInjectFailures(t *testing.T) {
	c := NewClientset()
	c.PrependReactor("create", "pods", func(action clienttesting.Action) (bool, runtime.Object, error) {
		if action.(clienttesting.CreateAction).GetSubresource() != "binding" {
			return false, nil, nil
		}
		return true, nil, apierrors.NewConflict(corev1.Resource("pods"), "web", errors.New("already bound"))
	})
	err := c.Pods("team").Bind(context.Background(), &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "web"}}, metav1.CreateOptions{})
	if !apierrors.IsConflict(err) {
		t.Errorf("Bind err = %v, want the injected Conflict", err)
	}
	if _, err := c.ConfigMaps("team").Get(context.Background(), "absent", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Get of an absent object: err = %v, want NotFound", err)
	}
}
