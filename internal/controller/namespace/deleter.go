package namespace

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/util/retry"

	"github.com/peapod-dev/peapod/internal/kube"
)

// finalizerEstimateSeconds is how long Kubernetes assumes an object held by a finalizer takes to go.
const finalizerEstimateSeconds = int64(15)

// ResourcesRemainingError says content is still being removed from a namespace; Estimate is how many
// seconds that may still take.
type ResourcesRemainingError struct {
	Estimate int64
}

func (e *ResourcesRemainingError) Error() string {
	return fmt.Sprintf("some content remains in the namespace, estimate %d seconds before it is removed", e.Estimate)
}

// podsGetter gives the pods client of a namespace, as kube.Interface does.
type podsGetter interface {
	Pods(namespace string) kube.PodInterface
}

// contentDeleter removes a terminating namespace's content and then its "kubernetes" finalizer.
type contentDeleter struct {
	namespaces kube.NamespaceInterface
	pods       podsGetter
	metadata   metadata.Interface
	discover   DiscoverFunc
	now        func() time.Time
	logger     *slog.Logger
}

// finish advances the deletion of the named namespace by one step. It returns nil once there is
// nothing left for this controller to do, *ResourcesRemainingError while content is going away, and
// any other error when a step failed.
func (d *contentDeleter) finish(ctx context.Context, name string) error {
	// The informer's copy may be stale; decisions are made on the API server's current one.
	ns, err := d.namespaces.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get namespace %s: %w", name, err)
	}
	if ns.DeletionTimestamp == nil {
		return nil
	}
	ns, err = d.markTerminating(ctx, ns)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		return nil
	}

	ns, estimate, err := d.deleteAllContent(ctx, ns)
	if err != nil {
		return err
	}
	if estimate > 0 {
		return &ResourcesRemainingError{Estimate: estimate}
	}
	return d.finalize(ctx, ns)
}

// markTerminating sets status.phase Terminating if the API server has not already done so.
func (d *contentDeleter) markTerminating(ctx context.Context, ns *corev1.Namespace) (*corev1.Namespace, error) {
	if ns.Status.Phase == corev1.NamespaceTerminating {
		return ns, nil
	}
	var updated *corev1.Namespace
	err := d.retryOnConflict(ctx, ns, func(latest *corev1.Namespace) error {
		if latest.Status.Phase == corev1.NamespaceTerminating {
			updated = latest
			return nil
		}
		latest = latest.DeepCopy()
		latest.Status.Phase = corev1.NamespaceTerminating
		var err error
		updated, err = d.namespaces.UpdateStatus(ctx, latest, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("mark namespace %s terminating: %w", ns.Name, err)
	}
	return updated, nil
}

// finalize removes the "kubernetes" finalizer, keeping any others, through the finalize subresource.
func (d *contentDeleter) finalize(ctx context.Context, ns *corev1.Namespace) error {
	err := d.retryOnConflict(ctx, ns, func(latest *corev1.Namespace) error {
		latest = latest.DeepCopy()
		latest.Spec.Finalizers = slices.DeleteFunc(latest.Spec.Finalizers, func(f corev1.FinalizerName) bool {
			return f == corev1.FinalizerKubernetes
		})
		_, err := d.namespaces.Finalize(ctx, latest, metav1.UpdateOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		// Already gone: whoever removed it finished the job.
		return nil
	}
	if err != nil {
		return fmt.Errorf("finalize namespace %s: %w", ns.Name, err)
	}
	return nil
}

// retryOnConflict runs update on ns, and on a conflict again on a freshly read copy, as long as the
// namespace keeps its UID (a namespace deleted and recreated under the same name is another one).
func (d *contentDeleter) retryOnConflict(ctx context.Context, ns *corev1.Namespace, update func(*corev1.Namespace) error) error {
	latest := ns
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		err := update(latest)
		if !apierrors.IsConflict(err) {
			return err
		}
		fresh, getErr := d.namespaces.Get(ctx, ns.Name, metav1.GetOptions{})
		if getErr != nil {
			return getErr
		}
		if fresh.UID != ns.UID {
			return fmt.Errorf("namespace %s was replaced (uid %s, was %s)", ns.Name, fresh.UID, ns.UID)
		}
		latest = fresh
		return err
	})
}

// deletableResource is a namespaced resource the server lets us delete, with the collection verbs
// it supports.
type deletableResource struct {
	gvr              schema.GroupVersionResource
	list             bool
	deleteCollection bool
}

// deleteAllContent deletes every namespaced object in ns and reports how many seconds the remaining
// ones may still take. It records the outcome in ns's status conditions and returns the namespace as
// last written. Failures for one resource do not stop the others; they are returned together.
func (d *contentDeleter) deleteAllContent(ctx context.Context, ns *corev1.Namespace) (*corev1.Namespace, int64, error) {
	var errs []error
	var conditions conditionUpdater

	resourceLists, err := d.discover(ctx)
	if err != nil {
		// Discovery may fail for some groups only; the rest can still be cleaned.
		errs = append(errs, fmt.Errorf("discover namespaced resources: %w", err))
		conditions.discoveryFailed(err)
	}
	resources, err := deletableResources(resourceLists)
	if err != nil {
		errs = append(errs, err)
		conditions.groupVersionParsingFailed(err)
	}

	totals := remainingTotals{byResource: map[schema.GroupVersionResource]int{}, byFinalizer: map[string]int{}}
	var estimate int64
	for _, resource := range resources {
		result, err := d.deleteResource(ctx, resource, ns)
		if err != nil {
			errs = append(errs, err)
			conditions.deleteContentFailed(err)
		}
		estimate = max(estimate, result.estimate)
		totals.add(resource.gvr, result)
	}
	conditions.contentRemaining(totals)

	// Always written when changed, so a condition that was failing is seen to recover.
	updated := ns.DeepCopy()
	if conditions.apply(&updated.Status, metav1.NewTime(d.now())) {
		written, err := d.namespaces.UpdateStatus(ctx, updated, metav1.UpdateOptions{})
		if err != nil {
			// Conditions are informative; deletion goes on, and the next pass writes them again.
			d.logger.Warn("could not update namespace conditions", "namespace", ns.Name, "err", err)
		} else {
			ns = written
		}
	}
	return ns, estimate, utilerrors.NewAggregate(errs)
}

// deletableResources turns discovery output into the resources to clean, in a stable order.
func deletableResources(lists []*metav1.APIResourceList) ([]deletableResource, error) {
	var resources []deletableResource
	var errs []error
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			errs = append(errs, fmt.Errorf("parse group version %q: %w", list.GroupVersion, err))
			continue
		}
		for _, r := range list.APIResources {
			verbs := sets.New(r.Verbs...)
			if !r.Namespaced || !verbs.Has("delete") {
				continue
			}
			resources = append(resources, deletableResource{
				gvr:              gv.WithResource(r.Name),
				list:             verbs.Has("list"),
				deleteCollection: verbs.Has("deletecollection"),
			})
		}
	}
	slices.SortFunc(resources, func(a, b deletableResource) int {
		return compareGVR(a.gvr, b.gvr)
	})
	return resources, utilerrors.NewAggregate(errs)
}

func compareGVR(a, b schema.GroupVersionResource) int {
	return cmp.Or(strings.Compare(a.Group, b.Group), strings.Compare(a.Version, b.Version), strings.Compare(a.Resource, b.Resource))
}

// resourceResult is what deleting one resource's objects left behind.
type resourceResult struct {
	// estimate is how many more seconds the remaining objects may take; 0 is no estimate, which
	// does not mean nothing remains.
	estimate    int64
	remaining   int
	byFinalizer map[string]int
}

type remainingTotals struct {
	byResource  map[schema.GroupVersionResource]int
	byFinalizer map[string]int
}

func (t remainingTotals) add(gvr schema.GroupVersionResource, r resourceResult) {
	if r.remaining == 0 {
		return
	}
	t.byResource[gvr] += r.remaining
	for finalizer, n := range r.byFinalizer {
		t.byFinalizer[finalizer] += n
	}
}

// deleteOptions propagate in the background, which keeps the API server from adding an orphan finalizer: the namespace is
// emptied whatever the dependents, so nothing should wait on them.
func deleteOptions() metav1.DeleteOptions {
	background := metav1.DeletePropagationBackground
	return metav1.DeleteOptions{PropagationPolicy: &background}
}

// deleteResource deletes every object of one resource in ns (pods gracefully, with their default
// grace period) and reports what remains.
func (d *contentDeleter) deleteResource(ctx context.Context, resource deletableResource, ns *corev1.Namespace) (resourceResult, error) {
	estimate, err := d.estimateGracefulTermination(ctx, resource.gvr, ns)
	if err != nil {
		return resourceResult{}, fmt.Errorf("estimate graceful termination of %s: %w", resource.gvr.Resource, err)
	}
	client := d.metadata.Resource(resource.gvr).Namespace(ns.Name)

	deletedCollection := false
	if resource.deleteCollection {
		err := client.DeleteCollection(ctx, deleteOptions(), metav1.ListOptions{})
		switch {
		case err == nil:
			deletedCollection = true
		case apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err):
			// Discovery promised more than the server serves; fall back to one by one.
		default:
			return resourceResult{estimate: estimate}, fmt.Errorf("delete collection of %s: %w", resource.gvr.Resource, err)
		}
	}
	if !resource.list {
		return resourceResult{estimate: estimate}, nil
	}
	if !deletedCollection {
		if err := d.deleteEachItem(ctx, client, resource.gvr); err != nil {
			return resourceResult{estimate: estimate}, err
		}
	}

	left, err := client.List(ctx, metav1.ListOptions{})
	switch {
	case apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err):
		return resourceResult{estimate: estimate}, nil
	case err != nil:
		return resourceResult{estimate: estimate}, fmt.Errorf("list remaining %s: %w", resource.gvr.Resource, err)
	case len(left.Items) == 0:
		return resourceResult{}, nil
	}

	result := resourceResult{estimate: estimate, remaining: len(left.Items), byFinalizer: map[string]int{}}
	for _, item := range left.Items {
		for _, finalizer := range item.Finalizers {
			result.byFinalizer[finalizer]++
		}
	}
	switch {
	case estimate > 0:
		return result, nil
	case len(result.byFinalizer) > 0:
		// Objects held by finalizers are expected to go once their owners act.
		result.estimate = finalizerEstimateSeconds
		return result, nil
	default:
		return result, fmt.Errorf("unexpected items still remain in namespace: %s for gvr: %v", ns.Name, resource.gvr)
	}
}

func (d *contentDeleter) deleteEachItem(ctx context.Context, client metadata.ResourceInterface, gvr schema.GroupVersionResource) error {
	items, err := client.List(ctx, metav1.ListOptions{})
	if apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", gvr.Resource, err)
	}
	for _, item := range items.Items {
		err := client.Delete(ctx, item.Name, deleteOptions())
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsMethodNotSupported(err) {
			return fmt.Errorf("delete %s %s: %w", gvr.Resource, item.Name, err)
		}
	}
	return nil
}

// estimateGracefulTermination returns how many seconds the resource's objects may take to go after
// deletion: for pods the longest grace period of those still running, counted from the namespace's
// deletion; 0 for everything else.
func (d *contentDeleter) estimateGracefulTermination(ctx context.Context, gvr schema.GroupVersionResource, ns *corev1.Namespace) (int64, error) {
	if gvr.GroupResource() != (schema.GroupResource{Resource: "pods"}) {
		return 0, nil
	}
	pods, err := d.pods.Pods(ns.Name).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, fmt.Errorf("list pods: %w", err)
	}
	var estimate int64
	for _, pod := range pods.Items {
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		if grace := pod.Spec.TerminationGracePeriodSeconds; grace != nil {
			estimate = max(estimate, *grace)
		}
	}
	if d.now().Sub(ns.DeletionTimestamp.Time) >= time.Duration(estimate)*time.Second {
		return 0, nil
	}
	return estimate, nil
}
