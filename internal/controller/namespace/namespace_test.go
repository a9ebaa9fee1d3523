package namespace

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peapod-dev/peapod/internal/controller/controllertest"
	"github.com/peapod-dev/peapod/internal/kube"

	"github.com/peapod-dev/peapod/internal/kube/kubefake"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	metadatafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

const (
	doomed = "doomed"
	other  = "other"
)

// fakeListKind is the list kind the metadata fake's tracker stores lists under.
var fakeListKind = schema.GroupVersionKind{Group: "fake-metadata-client-group", Version: "v1"}

var podsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

// serverResources is discovery as peapod serves it, plus a resource that cannot be deleted as a
// collection and one that cannot be deleted at all.
func serverResources() []*metav1.APIResourceList {
	full := metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	return []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "pods", Namespaced: true, Kind: "Pod", Verbs: full},
			{Name: "configmaps", Namespaced: true, Kind: "ConfigMap", Verbs: full},
			{Name: "secrets", Namespaced: true, Kind: "Secret", Verbs: full},
			{Name: "serviceaccounts", Namespaced: true, Kind: "ServiceAccount", Verbs: full},
			{Name: "events", Namespaced: true, Kind: "Event", Verbs: full},
			{Name: "bindings", Namespaced: true, Kind: "Binding", Verbs: metav1.Verbs{"create"}},
		}},
		{GroupVersion: "coordination.k8s.io/v1", APIResources: []metav1.APIResource{
			{Name: "leases", Namespaced: true, Kind: "Lease", Verbs: full},
		}},
		{GroupVersion: "example.com/v1", APIResources: []metav1.APIResource{
			{Name: "widgets", Namespaced: true, Kind: "Widget", Verbs: metav1.Verbs{"delete", "get", "list"}},
		}},
	}
}

func partial(apiVersion, kind, namespace, name string, finalizers ...string) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: apiVersion, Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Finalizers: finalizers},
	}
}

// content is one object of every deletable kind in doomed, and a bystander in other.
func content() []runtime.Object {
	return []runtime.Object{
		partial("v1", "Pod", doomed, "web"),
		partial("v1", "ConfigMap", doomed, "settings"),
		partial("v1", "Secret", doomed, "password"),
		partial("v1", "ServiceAccount", doomed, "default"),
		partial("v1", "Event", doomed, "web.1"),
		partial("coordination.k8s.io/v1", "Lease", doomed, "lock"),
		partial("example.com/v1", "Widget", doomed, "gear"),
		partial("v1", "ConfigMap", other, "bystander"),
	}
}

func terminating(deletedAgo time.Duration, phase corev1.NamespacePhase, finalizers ...corev1.FinalizerName) *corev1.Namespace {
	return &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{
			Name: doomed, UID: "uid-doomed",
			DeletionTimestamp: ptr.To(metav1.NewTime(time.Now().Add(-deletedAgo))),
		},
		Spec:   corev1.NamespaceSpec{Finalizers: finalizers},
		Status: corev1.NamespaceStatus{Phase: phase},
	}
}

func runningPod(grace int64) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: doomed, Name: "web"},
		Spec:       corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To(grace)},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

type fixture struct {
	kube     *kubefake.Clientset
	metadata *metadatafake.FakeMetadataClient
	deleter  *contentDeleter
}

// newFixture wires fakes that behave like peapod's API server: a collection delete removes every
// object except those held by a finalizer, and those of the resources listed in lingering (pods
// bound to a node, which wait for it).
func newFixture(t *testing.T, kubeObjects []runtime.Object, metaObjects []runtime.Object,
	discover DiscoverFunc, lingering ...schema.GroupVersionResource) *fixture {
	t.Helper()
	scheme := metadatafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	metaClient := metadatafake.NewSimpleMetadataClient(scheme, metaObjects...)
	tracker := metaClient.Tracker()
	metaClient.PrependReactor("delete-collection", "*", func(action clienttesting.Action) (bool, runtime.Object, error) {
		gvr, ns := action.GetResource(), action.GetNamespace()
		if slices.Contains(lingering, gvr) {
			return true, nil, nil
		}
		listed, err := tracker.List(gvr, fakeListKind, ns)
		if err != nil {
			return true, nil, err
		}
		items, err := meta.ExtractList(listed)
		if err != nil {
			return true, nil, err
		}
		for _, item := range items {
			m, err := meta.Accessor(item)
			if err != nil {
				return true, nil, err
			}
			if len(m.GetFinalizers()) > 0 {
				continue
			}
			if err := tracker.Delete(gvr, ns, m.GetName()); err != nil {
				return true, nil, err
			}
		}
		return true, nil, nil
	})
	kubeClient := kubefake.NewClientset(kubeObjects...)
	return &fixture{
		kube:     kubeClient,
		metadata: metaClient,
		deleter: &contentDeleter{
			namespaces: kubeClient.Namespaces(),
			pods:       kubeClient,
			metadata:   metaClient,
			discover:   discover,
			now:        time.Now,
			logger:     controllertest.DiscardLogger(),
		},
	}
}

func (f *fixture) namespace(t *testing.T) *corev1.Namespace {
	t.Helper()
	ns, err := f.kube.Namespaces().Get(context.Background(), doomed, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// remaining lists the objects left in the metadata fake, as "namespace/resource/name", reading its
// tracker so that the client's recorded actions stay those of the code under test.
func (f *fixture) remaining(t *testing.T) []string {
	t.Helper()
	var left []string
	for _, list := range serverResources() {
		gv := schema.FromAPIVersionAndKind(list.GroupVersion, "").GroupVersion()
		for _, r := range list.APIResources {
			for _, ns := range []string{doomed, other} {
				listed, err := f.metadata.Tracker().List(gv.WithResource(r.Name), fakeListKind, ns)
				if err != nil {
					t.Fatal(err)
				}
				items, err := meta.ExtractList(listed)
				if err != nil {
					t.Fatal(err)
				}
				for _, item := range items {
					left = append(left, ns+"/"+r.Name+"/"+item.(*metav1.PartialObjectMetadata).Name)
				}
			}
		}
	}
	slices.Sort(left)
	return left
}

func (f *fixture) metadataVerbs(resource string) []string {
	var verbs []string
	for _, action := range f.metadata.Actions() {
		if action.GetResource().Resource == resource {
			verbs = append(verbs, action.GetVerb())
		}
	}
	return verbs
}

func condition(ns *corev1.Namespace, conditionType corev1.NamespaceConditionType) corev1.NamespaceCondition {
	i := slices.IndexFunc(ns.Status.Conditions, func(c corev1.NamespaceCondition) bool { return c.Type == conditionType })
	if i < 0 {
		return corev1.NamespaceCondition{}
	}
	return ns.Status.Conditions[i]
}

func staticDiscovery() DiscoverFunc {
	return func(context.Context) ([]*metav1.APIResourceList, error) { return serverResources(), nil }
}

func TestFinishEmptiesAndFinalizes(t *testing.T) {
	f := newFixture(t,
		[]runtime.Object{terminating(time.Second, corev1.NamespaceActive, corev1.FinalizerKubernetes, "example.com/keep")},
		content(), staticDiscovery())

	if err := f.deleter.finish(context.Background(), doomed); err != nil {
		t.Fatal(err)
	}

	if got, want := f.remaining(t), []string{"other/configmaps/bystander"}; !slices.Equal(got, want) {
		t.Errorf("remaining objects = %v, want %v", got, want)
	}
	ns := f.namespace(t)
	if got := ns.Spec.Finalizers; !slices.Equal(got, []corev1.FinalizerName{"example.com/keep"}) {
		t.Errorf("finalizers = %v, want only example.com/keep", got)
	}
	if ns.Status.Phase != corev1.NamespaceTerminating {
		t.Errorf("phase = %q, want Terminating", ns.Status.Phase)
	}
	for _, conditionType := range conditionTypes() {
		got, want := condition(ns, conditionType), okCondition(conditionType)
		if got.Status != want.Status || got.Reason != want.Reason || got.Message != want.Message {
			t.Errorf("condition %s = %s/%s/%q, want %s/%s/%q", conditionType,
				got.Status, got.Reason, got.Message, want.Status, want.Reason, want.Message)
		}
	}
	// Without deletecollection in discovery, widgets are deleted one by one; bindings never.
	if got := f.metadataVerbs("widgets"); slices.Contains(got, "delete-collection") || !slices.Contains(got, "delete") {
		t.Errorf("widget verbs = %v, want delete one by one", got)
	}
	if got := f.metadataVerbs("bindings"); len(got) != 0 {
		t.Errorf("bindings were touched: %v", got)
	}
}

func TestFinishLeavesOthersAlone(t *testing.T) {
	active := terminating(0, corev1.NamespaceActive, corev1.FinalizerKubernetes)
	active.DeletionTimestamp = nil
	tests := []struct {
		name      string
		namespace *corev1.Namespace
	}{
		{name: "namespace not being deleted", namespace: active},
		{name: "already finalized by this controller", namespace: terminating(time.Second, corev1.NamespaceTerminating, "example.com/keep")},
		{name: "namespace gone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var kubeObjects []runtime.Object
			if tt.namespace != nil {
				kubeObjects = append(kubeObjects, tt.namespace)
			}
			f := newFixture(t, kubeObjects, content(), staticDiscovery())
			if err := f.deleter.finish(context.Background(), doomed); err != nil {
				t.Fatal(err)
			}
			if got := f.metadata.Actions(); len(got) != 0 {
				t.Errorf("content was touched: %d actions", len(got))
			}
			if tt.namespace != nil && !slices.Equal(f.namespace(t).Spec.Finalizers, tt.namespace.Spec.Finalizers) {
				t.Errorf("finalizers changed to %v", f.namespace(t).Spec.Finalizers)
			}
		})
	}
}

func TestFinishWaitsForRemainingContent(t *testing.T) {
	tests := []struct {
		name         string
		deletedAgo   time.Duration
		pod          *corev1.Pod
		extra        []runtime.Object
		lingering    []schema.GroupVersionResource
		wantEstimate int64 // 0: want an error other than ResourcesRemainingError
		wantFailing  map[corev1.NamespaceConditionType]string
	}{
		{
			name:         "object held by a finalizer",
			deletedAgo:   time.Second,
			extra:        []runtime.Object{partial("v1", "ConfigMap", doomed, "held", "example.com/hold")},
			wantEstimate: finalizerEstimateSeconds,
			wantFailing: map[corev1.NamespaceConditionType]string{
				corev1.NamespaceContentRemaining:    "Some resources are remaining: configmaps. has 1 resource instances",
				corev1.NamespaceFinalizersRemaining: "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances",
			},
		},
		{
			name:         "pod terminating within its grace period",
			deletedAgo:   time.Second,
			pod:          runningPod(30),
			lingering:    []schema.GroupVersionResource{podsGVR},
			wantEstimate: 30,
			wantFailing: map[corev1.NamespaceConditionType]string{
				corev1.NamespaceContentRemaining: "Some resources are remaining: pods. has 1 resource instances",
			},
		},
		{
			name:       "pod still there after its grace period",
			deletedAgo: time.Minute,
			pod:        runningPod(30),
			lingering:  []schema.GroupVersionResource{podsGVR},
			wantFailing: map[corev1.NamespaceConditionType]string{
				corev1.NamespaceContentRemaining: "Some resources are remaining: pods. has 1 resource instances",
				corev1.NamespaceDeletionContentFailure: "Failed to delete all resource types, 1 remaining: " +
					"unexpected items still remain in namespace: doomed for gvr: /v1, Resource=pods",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kubeObjects := []runtime.Object{terminating(tt.deletedAgo, corev1.NamespaceTerminating, corev1.FinalizerKubernetes)}
			if tt.pod != nil {
				kubeObjects = append(kubeObjects, tt.pod)
			}
			f := newFixture(t, kubeObjects, append(content(), tt.extra...), staticDiscovery(), tt.lingering...)

			err := f.deleter.finish(context.Background(), doomed)
			var remaining *ResourcesRemainingError
			switch {
			case err == nil:
				t.Fatal("finish succeeded with content left")
			case tt.wantEstimate > 0 && !errors.As(err, &remaining):
				t.Fatalf("err = %v, want ResourcesRemainingError", err)
			case tt.wantEstimate > 0 && remaining.Estimate != tt.wantEstimate:
				t.Errorf("estimate = %d, want %d", remaining.Estimate, tt.wantEstimate)
			case tt.wantEstimate == 0 && errors.As(err, &remaining):
				t.Errorf("err = %v, want a failure, not a wait", err)
			}

			ns := f.namespace(t)
			if !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
				t.Error("namespace finalized while content remains")
			}
			for _, conditionType := range conditionTypes() {
				got := condition(ns, conditionType)
				wantMessage, failing := tt.wantFailing[conditionType]
				wantStatus := corev1.ConditionFalse
				if failing {
					wantStatus = corev1.ConditionTrue
				} else {
					wantMessage = okCondition(conditionType).Message
				}
				if got.Status != wantStatus || got.Message != wantMessage {
					t.Errorf("condition %s = %s %q, want %s %q", conditionType, got.Status, got.Message, wantStatus, wantMessage)
				}
			}
		})
	}
}

func TestFinishAfterPartialDiscovery(t *testing.T) {
	failedGV := schema.GroupVersion{Group: "broken.example.com", Version: "v1"}
	discover := func(context.Context) ([]*metav1.APIResourceList, error) {
		return serverResources(), &kube.ErrGroupDiscoveryFailed{Groups: map[schema.GroupVersion]error{
			failedGV: errors.New("the server is currently unable to handle the request"),
		}}
	}
	f := newFixture(t, []runtime.Object{terminating(time.Second, corev1.NamespaceTerminating, corev1.FinalizerKubernetes)},
		content(), discover)

	if err := f.deleter.finish(context.Background(), doomed); err == nil {
		t.Fatal("finish succeeded although a group could not be discovered")
	}
	if got, want := f.remaining(t), []string{"other/configmaps/bystander"}; !slices.Equal(got, want) {
		t.Errorf("remaining = %v, want the discovered content deleted anyway: %v", got, want)
	}
	ns := f.namespace(t)
	if !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		t.Error("namespace finalized although a group's content may remain")
	}
	got := condition(ns, corev1.NamespaceDeletionDiscoveryFailure)
	if got.Status != corev1.ConditionTrue || got.Reason != "DiscoveryFailed" ||
		!strings.HasPrefix(got.Message, "Discovery failed for some groups, 1 failing: ") {
		t.Errorf("discovery condition = %s/%s/%q", got.Status, got.Reason, got.Message)
	}
}

func TestConditionTransitionTimeMovesOnlyWithStatus(t *testing.T) {
	earlier, later := metav1.NewTime(time.Unix(1000, 0)), metav1.NewTime(time.Unix(2000, 0))
	var status corev1.NamespaceStatus
	var failing conditionUpdater
	failing.deleteContentFailed(errors.New("boom"))
	if !failing.apply(&status, earlier) {
		t.Fatal("first apply reported no change")
	}

	var stillFailing conditionUpdater
	stillFailing.deleteContentFailed(errors.New("bang"))
	if !stillFailing.apply(&status, later) {
		t.Fatal("changed message reported no change")
	}
	if got := condition(&corev1.Namespace{Status: status}, corev1.NamespaceDeletionContentFailure); !got.LastTransitionTime.Equal(&earlier) {
		t.Errorf("transition time moved to %v although the status stayed True", got.LastTransitionTime)
	}

	var recovered conditionUpdater
	if !recovered.apply(&status, later) {
		t.Fatal("recovery reported no change")
	}
	got := condition(&corev1.Namespace{Status: status}, corev1.NamespaceDeletionContentFailure)
	if got.Status != corev1.ConditionFalse || !got.LastTransitionTime.Equal(&later) {
		t.Errorf("after recovery = %s at %v, want False at %v", got.Status, got.LastTransitionTime, later)
	}
	if (&conditionUpdater{}).apply(&status, later) {
		t.Error("unchanged conditions reported a change")
	}
}

// runController starts a controller on kube and returns a stop function that cancels it and waits
// (bounded) for Run to return.
func runController(t *testing.T, f *fixture) func() {
	t.Helper()
	factory := kube.NewInformerFactory(f.kube)
	c, err := New(f.kube, f.metadata, f.deleter.discover, factory.Namespaces(), controllertest.DiscardLogger())
	if err != nil {
		t.Fatal(err)
	}
	return controllertest.Start(t, factory, func(ctx context.Context) { c.Run(ctx, 2) })
}

func TestControllerFinalizesTerminatingNamespace(t *testing.T) {
	f := newFixture(t, []runtime.Object{terminating(time.Second, corev1.NamespaceTerminating, corev1.FinalizerKubernetes)},
		content(), staticDiscovery())
	stop := runController(t, f)
	defer stop()

	controllertest.Eventually(t, "the namespace is finalized", func() bool {
		return len(f.namespace(t).Spec.Finalizers) == 0
	})
	if got, want := f.remaining(t), []string{"other/configmaps/bystander"}; !slices.Equal(got, want) {
		t.Errorf("remaining = %v, want %v", got, want)
	}
}

func TestControllerBacksOffWhenFinalizeFails(t *testing.T) {
	f := newFixture(t, []runtime.Object{terminating(time.Second, corev1.NamespaceTerminating, corev1.FinalizerKubernetes)},
		nil, staticDiscovery())
	var attempts atomic.Int32
	f.kube.PrependReactor("create", "namespaces", func(action clienttesting.Action) (bool, runtime.Object, error) {
		if action.GetSubresource() != "finalize" {
			return false, nil, nil
		}
		attempts.Add(1)
		return true, nil, apierrors.NewInternalError(errors.New("store unavailable"))
	})
	stop := runController(t, f)
	defer stop()

	controllertest.Eventually(t, "finalize is retried", func() bool { return attempts.Load() >= 3 })
	// Exponential backoff from 5 ms allows about 8 more attempts in the next 500 ms; a hot loop
	// would make thousands.
	before := attempts.Load()
	time.Sleep(500 * time.Millisecond)
	if retries := attempts.Load() - before; retries > 20 {
		t.Errorf("%d finalize attempts in 500 ms: the controller is not backing off", retries)
	}
}
