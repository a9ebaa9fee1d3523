package controller

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/peapod-dev/peapod/internal/kube/kubefake"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metadatafake "k8s.io/client-go/metadata/fake"
	"k8s.io/utils/ptr"
)

// eventually polls cond every 10 ms for at most 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting until %s", what)
}

func TestRunDrivesTheControllersAndStopsCleanly(t *testing.T) {
	goroutinesBefore := runtime.NumGoroutine()

	doomed := &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: "doomed", DeletionTimestamp: ptr.To(metav1.Now())},
		Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating},
	}
	team := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	client := kubefake.NewClientset(doomed, team)
	scheme := metadatafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	metadataClient := metadatafake.NewSimpleMetadataClient(scheme)

	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	const caPEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	go func() {
		result <- Run(ctx, client, metadataClient, []byte(caPEM), slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()

	eventually(t, "team has its default ServiceAccount", func() bool {
		_, err := client.ServiceAccounts("team").Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	})
	eventually(t, "team has the root CA ConfigMap", func() bool {
		cm, err := client.ConfigMaps("team").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		return err == nil && cm.Data["ca.crt"] == caPEM
	})
	eventually(t, "doomed is finalized", func() bool {
		ns, err := client.Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
		return err == nil && len(ns.Spec.Finalizers) == 0
	})
	if _, err := client.ServiceAccounts("doomed").Get(ctx, "default", metav1.GetOptions{}); err == nil {
		t.Error("a terminating namespace got a default ServiceAccount")
	}
	if _, err := client.ConfigMaps("doomed").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{}); err == nil {
		t.Error("a terminating namespace got the root CA ConfigMap")
	}

	cancel()
	select {
	case err := <-result:
		if err != nil {
			t.Errorf("Run returned %v after its context ended, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	// Informers, queues and workers are gone once Run returns; allow the runtime a moment to
	// retire goroutines that have already returned.
	eventually(t, "the goroutines started by Run have ended", func() bool {
		return runtime.NumGoroutine() <= goroutinesBefore
	})
}

func TestRunRefusesAnEmptyCA(t *testing.T) {
	scheme := metadatafake.NewTestScheme()
	err := Run(context.Background(), kubefake.NewClientset(), metadatafake.NewSimpleMetadataClient(scheme), nil,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		t.Fatal("Run started without a CA to publish")
	}
}
