package rootca

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/peapod-dev/peapod/internal/controller/controllertest"
	"github.com/peapod-dev/peapod/internal/kube"

	"github.com/peapod-dev/peapod/internal/kube/kubefake"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

const caPEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

func namespace(name string, phase corev1.NamespacePhase) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NamespaceStatus{Phase: phase}}
}

// published is the ConfigMap as the publisher writes it, with extra labels.
func published(ns string, data map[string]string, annotations map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: ConfigMapName, ResourceVersion: "7",
			Labels: map[string]string{"keep": "me"}, Annotations: annotations,
		},
		Data: data,
	}
}

func countWrites(client *kubefake.Clientset, verb string) int {
	n := 0
	for _, action := range client.Actions() {
		if action.GetVerb() == verb && action.GetResource().Resource == "configmaps" {
			n++
		}
	}
	return n
}

func terminatingCauseError() error {
	err := apierrors.NewForbidden(corev1.Resource("configmaps"), ConfigMapName,
		errors.New(`unable to create new content in namespace team because it is being terminated`))
	err.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: corev1.NamespaceTerminatingCause, Field: "metadata.namespace"}}
	return err
}

func TestSync(t *testing.T) {
	want := map[string]string{DataKey: caPEM}
	described := map[string]string{DescriptionAnnotation: Description, "other": "kept"}
	deleting := namespace("team", corev1.NamespaceActive)
	deleting.DeletionTimestamp = ptr.To(metav1.Now())
	tests := []struct {
		name      string
		namespace *corev1.Namespace
		existing  *corev1.ConfigMap
		writeErr  error
		// wantVerb is the one write expected ("create" or "update"), or "" for none.
		wantVerb string
		wantErr  bool
	}{
		{name: "missing one created", namespace: namespace("team", corev1.NamespaceActive), wantVerb: "create"},
		{name: "namespace stored without a phase gets one", namespace: namespace("team", ""), wantVerb: "create"},
		{name: "matching one kept", namespace: namespace("team", corev1.NamespaceActive), existing: published("team", want, described)},
		{
			name: "any description accepted", namespace: namespace("team", corev1.NamespaceActive),
			existing: published("team", want, map[string]string{DescriptionAnnotation: "ours"}),
		},
		{
			name: "edited data restored", namespace: namespace("team", corev1.NamespaceActive),
			existing: published("team", map[string]string{DataKey: "forged"}, described), wantVerb: "update",
		},
		{
			name: "extra key removed", namespace: namespace("team", corev1.NamespaceActive),
			existing: published("team", map[string]string{DataKey: caPEM, "extra": "x"}, described), wantVerb: "update",
		},
		{
			name: "removed description restored", namespace: namespace("team", corev1.NamespaceActive),
			existing: published("team", want, map[string]string{"other": "kept"}), wantVerb: "update",
		},
		{name: "terminating namespace skipped", namespace: namespace("team", corev1.NamespaceTerminating)},
		{name: "namespace being deleted skipped", namespace: deleting},
		{
			name: "terminating namespace's drifted one left alone", namespace: namespace("team", corev1.NamespaceTerminating),
			existing: published("team", map[string]string{DataKey: "forged"}, described),
		},
		{name: "namespace gone"},
		{
			name: "created meanwhile", namespace: namespace("team", corev1.NamespaceActive),
			writeErr: apierrors.NewAlreadyExists(corev1.Resource("configmaps"), ConfigMapName), wantVerb: "create",
		},
		{
			name: "namespace began terminating meanwhile", namespace: namespace("team", corev1.NamespaceActive),
			writeErr: terminatingCauseError(), wantVerb: "create",
		},
		{
			name: "create failure retried", namespace: namespace("team", corev1.NamespaceActive),
			writeErr: apierrors.NewInternalError(errors.New("store unavailable")), wantVerb: "create", wantErr: true,
		},
		{
			name: "update conflict retried", namespace: namespace("team", corev1.NamespaceActive),
			existing: published("team", map[string]string{DataKey: "forged"}, described),
			writeErr: apierrors.NewConflict(corev1.Resource("configmaps"), ConfigMapName, errors.New("stale")),
			wantVerb: "update", wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var objects []runtime.Object
			if tt.existing != nil {
				objects = append(objects, tt.existing)
			}
			client := kubefake.NewClientset(objects...)
			if tt.writeErr != nil {
				client.PrependReactor(tt.wantVerb, "configmaps", func(clienttesting.Action) (bool, runtime.Object, error) {
					return true, nil, tt.writeErr
				})
			}
			factory := kube.NewInformerFactory(client)
			namespaces, configMaps := factory.Namespaces(), factory.ConfigMaps()
			c, err := New(client, []byte(caPEM), namespaces, configMaps, controllertest.DiscardLogger())
			if err != nil {
				t.Fatal(err)
			}
			// The listers are filled by hand: the decision is under test, not the informers.
			if tt.namespace != nil {
				if err := namespaces.Informer().GetIndexer().Add(tt.namespace); err != nil {
					t.Fatal(err)
				}
			}
			if tt.existing != nil {
				if err := configMaps.Informer().GetIndexer().Add(tt.existing); err != nil {
					t.Fatal(err)
				}
			}
			client.ClearActions()
			var before *corev1.ConfigMap
			if tt.existing != nil {
				before = tt.existing.DeepCopy()
			}

			err = c.Sync(context.Background(), "team")
			if (err != nil) != tt.wantErr {
				t.Fatalf("Sync error = %v, want error %v", err, tt.wantErr)
			}
			for _, verb := range []string{"create", "update"} {
				wantN := 0
				if verb == tt.wantVerb {
					wantN = 1
				}
				if got := countWrites(client, verb); got != wantN {
					t.Errorf("%d %ss, want %d", got, verb, wantN)
				}
			}
			if tt.existing != nil && !equality.Semantic.DeepEqual(tt.existing, before) {
				t.Errorf("Sync modified the informer's copy: %v", tt.existing)
			}
			if tt.wantVerb == "" || tt.writeErr != nil {
				return
			}
			cm, err := client.ConfigMaps("team").Get(context.Background(), ConfigMapName, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("ConfigMap not written: %v", err)
			}
			if !maps.Equal(cm.Data, want) {
				t.Errorf("data %q, want %q", cm.Data, want)
			}
			if cm.Annotations[DescriptionAnnotation] != Description {
				t.Errorf("description annotation %q", cm.Annotations[DescriptionAnnotation])
			}
			if tt.existing != nil && (cm.Labels["keep"] != "me" || cm.Annotations["other"] != "kept") {
				t.Errorf("restoring dropped metadata: labels %v annotations %v", cm.Labels, cm.Annotations)
			}
		})
	}
}

func TestPublisherCreatesRecreatesAndRestores(t *testing.T) {
	client := kubefake.NewClientset(namespace("team", corev1.NamespaceActive))
	ctx := context.Background()
	factory := kube.NewInformerFactory(client)
	c, err := New(client, []byte(caPEM), factory.Namespaces(), factory.ConfigMaps(), controllertest.DiscardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer controllertest.Start(t, factory, func(ctx context.Context) { c.Run(ctx, 1) })()

	configMaps := client.ConfigMaps("team")
	publishedCA := func() bool {
		cm, err := configMaps.Get(ctx, ConfigMapName, metav1.GetOptions{})
		return err == nil && cm.Data[DataKey] == caPEM
	}
	controllertest.Eventually(t, "the namespace gets the ConfigMap", publishedCA)

	if err := configMaps.Delete(ctx, ConfigMapName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "a deleted ConfigMap is recreated", publishedCA)

	cm, err := configMaps.Get(ctx, ConfigMapName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data[DataKey] = "forged"
	if _, err := configMaps.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "an edited ConfigMap is restored", publishedCA)

	// One update by the test and one restoring it; the publisher's own write must not make it write
	// again (a loop would show dozens of writes here). An informer that lags behind the client may
	// add a create answered AlreadyExists or an update answered Conflict, both harmless, so the
	// counts are bounded rather than exact.
	time.Sleep(200 * time.Millisecond)
	if got := countWrites(client, "update"); got < 2 || got > 4 {
		t.Errorf("%d updates, want 2 (the edit and its restoration), at most 2 more from a lagging cache", got)
	}
	if got := countWrites(client, "create"); got < 2 || got > 4 {
		t.Errorf("%d creates, want 2 (first publication and recreation), at most 2 more from a lagging cache", got)
	}
}
