package kube_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	"github.com/peapod-dev/peapod/internal/kube"
	"github.com/peapod-dev/peapod/internal/kube/kubefake"
)

func configMap(namespace, name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
}

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

func TestInformerFactoryMirrorsTheServer(t *testing.T) {
	client := kubefake.NewClientset(configMap("team", "settings"), configMap("other", "settings"),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}})
	factory := kube.NewInformerFactory(client)
	configMaps := factory.ConfigMaps()
	if factory.ConfigMaps().Informer() != configMaps.Informer() {
		t.Error("a second request for the same resource made a second informer")
	}
	namespaces := factory.Namespaces()

	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx)
	stopped := make(chan struct{})
	go func() { factory.Shutdown(); close(stopped) }()
	defer func() {
		cancel()
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			t.Error("Shutdown did not return after the informers' context ended")
		}
	}()
	if !cache.WaitForCacheSync(ctx.Done(), configMaps.Informer().HasSynced, namespaces.Informer().HasSynced) {
		t.Fatal("informers never synced")
	}

	if _, err := namespaces.Lister().Get("team"); err != nil {
		t.Errorf("cluster-scoped lister: %v", err)
	}
	if _, err := configMaps.NamespacedLister("team").Get("settings"); err != nil {
		t.Errorf("namespaced lister: %v", err)
	}
	if _, err := configMaps.NamespacedLister("team").Get("absent"); !apierrors.IsNotFound(err) {
		t.Errorf("absent object: err = %v, want NotFound", err)
	}
	all, err := configMaps.Lister().List(labels.Everything())
	if err != nil || len(all) != 2 {
		t.Errorf("all namespaces: %d objects, err %v; want 2", len(all), err)
	}

	if _, err := client.ConfigMaps("team").Create(ctx, configMap("team", "later"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the informer sees a created object", func() bool {
		_, err := configMaps.NamespacedLister("team").Get("later")
		return err == nil
	})
}
