package serviceaccount

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peapod-dev/peapod/internal/controller/controllertest"
	"github.com/peapod-dev/peapod/internal/kube"

	"github.com/peapod-dev/peapod/internal/kube/kubefake"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

func namespace(name string, phase corev1.NamespacePhase) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NamespaceStatus{Phase: phase}}
}

func defaultServiceAccount(ns string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: DefaultName}}
}

func terminatingCauseError() error {
	err := apierrors.NewForbidden(corev1.Resource("serviceaccounts"), DefaultName,
		errors.New(`unable to create new content in namespace team because it is being terminated`))
	err.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: corev1.NamespaceTerminatingCause, Field: "metadata.namespace"}}
	return err
}

func countCreates(client *kubefake.Clientset) int {
	n := 0
	for _, action := range client.Actions() {
		if action.GetVerb() == "create" && action.GetResource().Resource == "serviceaccounts" {
			n++
		}
	}
	return n
}

func TestSync(t *testing.T) {
	deleting := namespace("team", corev1.NamespaceActive)
	deleting.DeletionTimestamp = ptr.To(metav1.Now())
	tests := []struct {
		name        string
		namespace   *corev1.Namespace
		existing    *corev1.ServiceAccount
		createErr   error
		wantCreates int
		wantErr     bool
	}{
		{name: "active namespace gets one", namespace: namespace("team", corev1.NamespaceActive), wantCreates: 1},
		{name: "namespace stored without a phase gets one", namespace: namespace("team", ""), wantCreates: 1},
		{name: "existing one kept", namespace: namespace("team", corev1.NamespaceActive), existing: defaultServiceAccount("team")},
		{name: "terminating namespace skipped", namespace: namespace("team", corev1.NamespaceTerminating)},
		{name: "namespace being deleted skipped", namespace: deleting},
		{name: "namespace gone"},
		{
			name: "created meanwhile", namespace: namespace("team", corev1.NamespaceActive),
			createErr: apierrors.NewAlreadyExists(corev1.Resource("serviceaccounts"), DefaultName), wantCreates: 1,
		},
		{
			name: "namespace began terminating meanwhile", namespace: namespace("team", corev1.NamespaceActive),
			createErr: terminatingCauseError(), wantCreates: 1,
		},
		{
			name: "other failure retried", namespace: namespace("team", corev1.NamespaceActive),
			createErr: apierrors.NewInternalError(errors.New("store unavailable")), wantCreates: 1, wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := kubefake.NewClientset()
			if tt.createErr != nil {
				client.PrependReactor("create", "serviceaccounts", func(clienttesting.Action) (bool, runtime.Object, error) {
					return true, nil, tt.createErr
				})
			}
			factory := kube.NewInformerFactory(client)
			namespaces, serviceAccounts := factory.Namespaces(), factory.ServiceAccounts()
			c, err := New(client, namespaces, serviceAccounts, controllertest.DiscardLogger())
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
				if err := serviceAccounts.Informer().GetIndexer().Add(tt.existing); err != nil {
					t.Fatal(err)
				}
			}

			err = c.Sync(context.Background(), "team")
			if (err != nil) != tt.wantErr {
				t.Fatalf("sync error = %v, want error %v", err, tt.wantErr)
			}
			if got := countCreates(client); got != tt.wantCreates {
				t.Errorf("%d creates, want %d", got, tt.wantCreates)
			}
			if tt.wantCreates == 1 && tt.createErr == nil {
				sa, err := client.ServiceAccounts("team").Get(context.Background(), DefaultName, metav1.GetOptions{})
				if err != nil {
					t.Fatalf("default ServiceAccount not created: %v", err)
				}
				if sa.Namespace != "team" {
					t.Errorf("created in namespace %q", sa.Namespace)
				}
			}
		})
	}
}

func runController(t *testing.T, client *kubefake.Clientset) func() {
	t.Helper()
	factory := kube.NewInformerFactory(client)
	c, err := New(client, factory.Namespaces(), factory.ServiceAccounts(), controllertest.DiscardLogger())
	if err != nil {
		t.Fatal(err)
	}
	return controllertest.Start(t, factory, func(ctx context.Context) { c.Run(ctx, 1) })
}

func TestControllerCreatesAndRecreates(t *testing.T) {
	client := kubefake.NewClientset(namespace("existing", corev1.NamespaceActive))
	stop := runController(t, client)
	defer stop()
	ctx := context.Background()
	exists := func(ns string) func() bool {
		return func() bool {
			_, err := client.ServiceAccounts(ns).Get(ctx, DefaultName, metav1.GetOptions{})
			return err == nil
		}
	}

	controllertest.Eventually(t, "the namespace present at start has one", exists("existing"))
	if _, err := client.Namespaces().Create(ctx, namespace("team", corev1.NamespaceActive), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "a new namespace gets one", exists("team"))

	if err := client.ServiceAccounts("team").Delete(ctx, DefaultName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "a deleted one is recreated", exists("team"))
	if got := countCreates(client); got != 3 {
		t.Errorf("%d creates, want 3 (two namespaces, one recreation)", got)
	}
}

func TestControllerBacksOffWhenCreateFails(t *testing.T) {
	client := kubefake.NewClientset(namespace("team", corev1.NamespaceActive))
	var attempts atomic.Int32
	client.PrependReactor("create", "serviceaccounts", func(clienttesting.Action) (bool, runtime.Object, error) {
		attempts.Add(1)
		return true, nil, apierrors.NewInternalError(errors.New("store unavailable"))
	})
	stop := runController(t, client)
	defer stop()

	controllertest.Eventually(t, "create is retried", func() bool { return attempts.Load() >= 3 })
	// Exponential backoff from 5 ms allows about 8 more attempts in the next 500 ms; a hot loop
	// would make thousands.
	before := attempts.Load()
	time.Sleep(500 * time.Millisecond)
	if retries := attempts.Load() - before; retries > 20 {
		t.Errorf("%d create attempts in 500 ms: the controller is not backing off", retries)
	}
}
