package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/peapod-dev/peapod/internal/kube"
)

// Name is the scheduler name pods ask for by default (spec.schedulerName) and the events' source.
const Name = corev1.DefaultSchedulerName

const (
	// Kubernetes retries a pod that stayed unschedulable this long even without a cluster event
	// (podMaxInUnschedulablePodsDuration) ...
	unschedulableRetry = 5 * time.Minute
	// ... checking every so often (flushUnschedulablePodsLeftover's period).
	unschedulableFlush = 30 * time.Second
	// maxBindsInFlight bounds the concurrent pods/binding calls.
	maxBindsInFlight = 16
	// An assumed pod that the informer has not shown bound after this long is forgotten (the binding failed
	// in a way that was not reported, or the pod is gone).
	assumeTTL = 30 * time.Second
)

// Scheduler binds pending pods whose schedulerName is default-scheduler.
type Scheduler struct {
	client   kube.Interface
	pods     kube.Informer[*corev1.Pod]
	nodes    kube.Informer[*corev1.Node]
	recorder record.EventRecorder
	logger   *slog.Logger
	queue    workqueue.TypedRateLimitingInterface[string]
	// binds bounds the bindings in flight.
	binds chan struct{}

	mu sync.Mutex
	// assumed are pods bound by this scheduler that the informer may not show bound yet; their requests
	// count against the node so that a burst of pods does not overcommit it.
	assumed map[types.UID]assumedPod
	// unschedulable holds pods that fit no node, by key.
	unschedulable map[string]parked
}

// parked is an unschedulable pod: when it last failed, and whether a pod going away could make room
// (it failed on resources or ports somewhere) or only a change of the nodes can help.
type parked struct {
	at           time.Time
	waitsForRoom bool
}

type assumedPod struct {
	pod  *corev1.Pod
	node string
	at   time.Time
}

// New returns a scheduler fed by factory's pod and node informers; start the factory after New.
func New(client kube.Interface, factory *kube.InformerFactory, recorder record.EventRecorder, logger *slog.Logger) (*Scheduler, error) {
	s := &Scheduler{
		client:        client,
		pods:          factory.Pods(),
		nodes:         factory.Nodes(),
		recorder:      recorder,
		logger:        logger,
		queue:         workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: "scheduler"}),
		assumed:       map[types.UID]assumedPod{},
		binds:         make(chan struct{}, maxBindsInFlight),
		unschedulable: map[string]parked{},
	}
	if _, err := s.pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.podChanged(obj) },
		UpdateFunc: func(_, obj any) { s.podChanged(obj) },
		DeleteFunc: func(obj any) { s.podDeleted(obj) },
	}); err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	if _, err := s.nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.retryUnschedulable(retryAll) },
		UpdateFunc: func(old, obj any) { s.nodeChanged(old, obj) },
		DeleteFunc: func(any) { s.retryUnschedulable(retryAll) },
	}); err != nil {
		return nil, fmt.Errorf("watch nodes: %w", err)
	}
	return s, nil
}

// Run schedules until ctx ends.
func (s *Scheduler) Run(ctx context.Context, workers int) {
	defer s.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), s.pods.Informer().HasSynced, s.nodes.Informer().HasSynced) {
		return
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for s.next(ctx) {
			}
		})
	}
	ticker := time.NewTicker(unschedulableFlush)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			s.queue.ShutDown()
			wg.Wait()
			return
		case <-ticker.C:
			s.retryUnschedulable(retryStale)
		}
	}
}

func pending(pod *corev1.Pod) bool {
	return pod.Spec.NodeName == "" && pod.Spec.SchedulerName == Name && pod.DeletionTimestamp == nil &&
		pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed
}

func (s *Scheduler) podChanged(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if pending(pod) {
		s.mu.Lock()
		_, waiting := s.unschedulable[key(pod)]
		s.mu.Unlock()
		if !waiting {
			s.queue.Add(key(pod))
		}
		return
	}
	s.mu.Lock()
	delete(s.assumed, pod.UID) // the informer now shows it bound: its own requests count
	delete(s.unschedulable, key(pod))
	s.mu.Unlock()
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		s.retryUnschedulable(retryWaitingForRoom) // its resources are free
	}
}

func (s *Scheduler) podDeleted(obj any) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	s.mu.Lock()
	delete(s.assumed, pod.UID)
	delete(s.unschedulable, key(pod))
	s.mu.Unlock()
	s.queue.Forget(key(pod))
	if pod.Spec.NodeName != "" {
		s.retryUnschedulable(retryWaitingForRoom)
	}
}

// nodeChanged retries unschedulable pods when a node changed in a way scheduling can see: not its
// heartbeats.
func (s *Scheduler) nodeChanged(old, obj any) {
	before, ok1 := old.(*corev1.Node)
	after, ok2 := obj.(*corev1.Node)
	if ok1 && ok2 && equality.Semantic.DeepEqual(before.Labels, after.Labels) &&
		equality.Semantic.DeepEqual(before.Spec, after.Spec) &&
		equality.Semantic.DeepEqual(before.Status.Allocatable, after.Status.Allocatable) &&
		nodeReady(before) == nodeReady(after) {
		return
	}
	s.retryUnschedulable(retryAll)
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Which unschedulable pods to queue again.
type retryWhich int

const (
	retryAll            retryWhich = iota // the nodes changed
	retryWaitingForRoom                   // a pod left a node
	retryStale                            // waited unschedulableRetry
)

// retryUnschedulable queues again the pods that fit nowhere and that which may now fit.
func (s *Scheduler) retryUnschedulable(which retryWhich) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, p := range s.unschedulable {
		if (which == retryStale && time.Since(p.at) < unschedulableRetry) || (which == retryWaitingForRoom && !p.waitsForRoom) {
			continue
		}
		delete(s.unschedulable, k)
		s.queue.Add(k)
	}
}

func key(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }

func (s *Scheduler) next(ctx context.Context) bool {
	k, quit := s.queue.Get()
	if quit {
		return false
	}
	defer s.queue.Done(k)
	if err := s.scheduleOne(ctx, k); err != nil {
		s.logger.Warn("scheduling failed, will retry", "pod", k, "err", err)
		s.queue.AddRateLimited(k)
		return true
	}
	s.queue.Forget(k)
	return true
}

// scheduleOne places the pod under key, or records why it cannot be placed.
func (s *Scheduler) scheduleOne(ctx context.Context, k string) error {
	pod, err := s.pods.Lister().Get(k)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !pending(pod) {
		return nil
	}
	s.mu.Lock()
	if a, ok := s.assumed[pod.UID]; ok && time.Since(a.at) < assumeTTL {
		s.mu.Unlock()
		return nil // bound already; the informer has not caught up
	}
	s.mu.Unlock()
	infos, err := s.snapshot()
	if err != nil {
		return err
	}
	node, fitErr := pickNode(pod, infos)
	if fitErr != nil {
		return s.recordUnschedulable(ctx, pod, fitErr)
	}
	s.mu.Lock()
	s.assumed[pod.UID] = assumedPod{pod: pod, node: node, at: time.Now()}
	s.mu.Unlock()
	// Like kube-scheduler's binding cycle, the API call runs apart from the scheduling loop, so a burst
	// of pods is placed at the speed of the filters rather than of the writes; the assumed pod holds its
	// place meanwhile.
	s.binds <- struct{}{}
	go func() {
		defer func() { <-s.binds }()
		if err := s.bind(ctx, pod, node); err != nil {
			s.logger.Warn("binding failed, will retry", "pod", k, "err", err)
			s.queue.AddRateLimited(k)
		}
	}()
	return nil
}

// bind writes the pod's binding and reports Scheduled, or forgets the assumption.
func (s *Scheduler) bind(ctx context.Context, pod *corev1.Pod, node string) error {
	binding := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}
	if err := s.client.Pods(pod.Namespace).Bind(ctx, binding, metav1.CreateOptions{}); err != nil {
		s.mu.Lock()
		delete(s.assumed, pod.UID)
		s.mu.Unlock()
		if apierrors.IsNotFound(err) || ctx.Err() != nil {
			return nil // deleted meanwhile, or shutting down
		}
		s.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedScheduling", "binding rejected: %v", err)
		return fmt.Errorf("bind %s to %s: %w", key(pod), node, err)
	}
	s.recorder.Eventf(pod, corev1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, node)
	return nil
}

// snapshot builds every node's view: the pods bound to it that still hold resources, and those assumed.
func (s *Scheduler) snapshot() ([]*nodeInfo, error) {
	nodes, err := s.nodes.Lister().List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	pods, err := s.pods.Lister().List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	byName := make(map[string]*nodeInfo, len(nodes))
	infos := make([]*nodeInfo, 0, len(nodes))
	for _, n := range nodes {
		info := newNodeInfo(n)
		byName[n.Name] = info
		infos = append(infos, info)
	}
	seen := map[types.UID]bool{}
	for _, p := range pods {
		if p.Spec.NodeName == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		seen[p.UID] = true
		if info := byName[p.Spec.NodeName]; info != nil {
			info.add(p)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for uid, a := range s.assumed {
		if seen[uid] {
			continue
		}
		if time.Since(a.at) > assumeTTL {
			delete(s.assumed, uid)
			continue
		}
		if info := byName[a.node]; info != nil {
			info.add(a.pod)
		}
	}
	return infos, nil
}

// recordUnschedulable emits FailedScheduling and sets PodScheduled False with reason Unschedulable, as
// kube-scheduler does, and parks the pod until the cluster changes.
func (s *Scheduler) recordUnschedulable(ctx context.Context, pod *corev1.Pod, fitErr *fitError) error {
	message := fitErr.Error()
	s.recorder.Event(pod, corev1.EventTypeWarning, "FailedScheduling", message)
	s.mu.Lock()
	s.unschedulable[key(pod)] = parked{at: time.Now(), waitsForRoom: fitErr.waitsForRoom()}
	s.mu.Unlock()
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable && c.Message == message {
			return nil
		}
	}
	updated := pod.DeepCopy()
	condition := corev1.PodCondition{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
		Message: message, LastTransitionTime: metav1.Now(),
	}
	replaced := false
	for i, c := range updated.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			if c.Status == condition.Status {
				condition.LastTransitionTime = c.LastTransitionTime
			}
			updated.Status.Conditions[i] = condition
			replaced = true
		}
	}
	if !replaced {
		updated.Status.Conditions = append(updated.Status.Conditions, condition)
	}
	if _, err := s.client.Pods(pod.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		s.mu.Lock()
		delete(s.unschedulable, key(pod))
		s.mu.Unlock()
		return fmt.Errorf("set PodScheduled of %s: %w", key(pod), err)
	}
	return nil
}
