package e2e

import (
	"context"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
)

// TestRootCAConfigMap checks that every namespace gets kube-root-ca.crt holding the CA clients trust,
// and that the publisher recreates it when deleted and restores it when edited.
func TestRootCAConfigMap(t *testing.T) {
	srv := startServer(t)
	client := srv.client(t)
	ctx := context.Background()

	kubeconfig, err := clientcmd.LoadFromFile(srv.kubeconfig())
	if err != nil {
		t.Fatalf("load kubeconfig: %v", err)
	}
	kubeContext, ok := kubeconfig.Contexts[kubeconfig.CurrentContext]
	if !ok || kubeconfig.Clusters[kubeContext.Cluster] == nil {
		t.Fatalf("kubeconfig has no cluster for its current context %q", kubeconfig.CurrentContext)
	}
	wantCA := string(kubeconfig.Clusters[kubeContext.Cluster].CertificateAuthorityData)
	if wantCA == "" {
		t.Fatal("kubeconfig has no certificate-authority-data")
	}

	ns := srv.namespace(t, "rootca")
	configMaps := client.CoreV1().ConfigMaps(ns)
	published := func() (bool, error) {
		cm, err := configMaps.Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if cm.Data["ca.crt"] != wantCA {
			return false, fmt.Errorf("ca.crt is %q, want the kubeconfig's CA", cm.Data["ca.crt"])
		}
		if cm.Annotations["kubernetes.io/description"] == "" {
			return false, fmt.Errorf("no kubernetes.io/description annotation: %v", cm.Annotations)
		}
		return true, nil
	}

	eventually(t, "kube-root-ca.crt in a new namespace", published)

	if err := configMaps.Delete(ctx, "kube-root-ca.crt", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	eventually(t, "kube-root-ca.crt recreated after delete", published)

	cm, err := configMaps.Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	cm.Data = map[string]string{"ca.crt": "not a CA", "extra": "x"}
	if _, err := configMaps.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update: %v", err)
	}
	eventually(t, "kube-root-ca.crt restored after edit", func() (bool, error) {
		if ok, err := published(); !ok {
			return false, err
		}
		cm, err := configMaps.Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		if err != nil || len(cm.Data) != 1 {
			return false, fmt.Errorf("data keys after restore: %v (err %v)", cm.Data, err)
		}
		return true, nil
	})

	// The system namespaces get it too, as pods there mount it as well.
	for _, system := range []string{metav1.NamespaceDefault, metav1.NamespaceSystem} {
		eventually(t, "kube-root-ca.crt in "+system, func() (bool, error) {
			cm, err := client.CoreV1().ConfigMaps(system).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
			return err == nil && cm.Data["ca.crt"] == wantCA, err
		})
	}
}
