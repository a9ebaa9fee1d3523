// Package nodelifecycle is the part of kube-controller-manager's node lifecycle controller that scheduling
// depends on: a node whose agent stopped renewing its Lease gets its conditions set to Unknown ("Kubelet
// stopped posting node status.") and the node.kubernetes.io/unreachable taint; a node whose Ready
// condition is False gets node.kubernetes.io/not-ready; both go when the node is Ready again. The scheduler
// then keeps pods off such nodes through its taint filter, as in Kubernetes. (The NoExecute evictions of
// Kubernetes' taint manager are not done: the taints here are NoSchedule only.)
package nodelifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	"github.com/peapod-dev/peapod/internal/kube"
)

const (
	// GracePeriod is how long a node may go without renewing its Lease before it is unreachable
	// (kube-controller-manager's --node-monitor-grace-period, 50 s since Kubernetes 1.32).
	GracePeriod = 50 * time.Second
	// checkEvery is --node-monitor-period.
	checkEvery = 5 * time.Second
)

// Controller watches nodes and their leases.
type Controller struct {
	client kube.Interface
	nodes  kube.Informer[*corev1.Node]
	leases kube.Informer[*coordinationv1.Lease]
	logger *slog.Logger
	now    func() time.Time
}

// New returns a controller fed by factory's node and lease informers; start the factory after New.
func New(client kube.Interface, factory *kube.InformerFactory, logger *slog.Logger) *Controller {
	return &Controller{client: client, nodes: factory.Nodes(), leases: factory.Leases(), logger: logger, now: time.Now}
}

// Run checks every node every few seconds until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	if !cache.WaitForCacheSync(ctx.Done(), c.nodes.Informer().HasSynced, c.leases.Informer().HasSynced) {
		return
	}
	ticker := time.NewTicker(checkEvery)
	defer ticker.Stop()
	for {
		c.checkAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

func (c *Controller) checkAll(ctx context.Context) {
	nodes, err := c.nodes.Lister().List(labels.Everything())
	if err != nil {
		return
	}
	for _, n := range nodes {
		if err := c.check(ctx, n); err != nil && ctx.Err() == nil {
			c.logger.Warn("node health", "node", n.Name, "err", err)
		}
	}
}

// Taints of an unhealthy node, as the node lifecycle controller names them.
var (
	unreachableTaint = corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule}
	notReadyTaint    = corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule}
)

// check brings one node's conditions and taints in line with its health.
func (c *Controller) check(ctx context.Context, node *corev1.Node) error {
	lease, err := c.leases.Lister().Get(corev1.NamespaceNodeLease + "/" + node.Name)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	heartbeat := node.CreationTimestamp.Time
	if lease != nil && lease.Spec.RenewTime != nil && lease.Spec.RenewTime.After(heartbeat) {
		heartbeat = lease.Spec.RenewTime.Time
	}
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady && cond.LastHeartbeatTime.After(heartbeat) {
			heartbeat = cond.LastHeartbeatTime.Time
		}
	}
	now := c.now()
	if now.Sub(heartbeat) > GracePeriod {
		if err := c.markUnknown(ctx, node, now); err != nil {
			return err
		}
		return c.setTaints(ctx, node.Name, []corev1.Taint{unreachableTaint}, []corev1.Taint{notReadyTaint})
	}
	switch readyStatus(node) {
	case corev1.ConditionTrue:
		return c.setTaints(ctx, node.Name, nil, []corev1.Taint{unreachableTaint, notReadyTaint})
	case corev1.ConditionFalse:
		return c.setTaints(ctx, node.Name, []corev1.Taint{notReadyTaint}, []corev1.Taint{unreachableTaint})
	default: // Unknown, from an earlier silence; the agent is back but has not posted Ready yet
		return nil
	}
}

func readyStatus(node *corev1.Node) corev1.ConditionStatus {
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status
		}
	}
	return corev1.ConditionUnknown
}

// markUnknown sets the node's conditions to Unknown as kube-controller-manager does for a silent kubelet.
func (c *Controller) markUnknown(ctx context.Context, node *corev1.Node, now time.Time) error {
	updated := node.DeepCopy()
	changed := false
	for i, cond := range updated.Status.Conditions {
		if cond.Status == corev1.ConditionUnknown {
			continue
		}
		switch cond.Type {
		case corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure:
			updated.Status.Conditions[i].Status = corev1.ConditionUnknown
			updated.Status.Conditions[i].Reason = "NodeStatusUnknown"
			updated.Status.Conditions[i].Message = "Kubelet stopped posting node status."
			updated.Status.Conditions[i].LastTransitionTime = metav1.NewTime(now)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	if _, err := c.client.Nodes().UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("mark node %s unknown: %w", node.Name, err)
	}
	return nil
}

// setTaints adds add and removes remove from the node's taints, reading the node afresh so that an
// agent's status post or a user's edit in between is kept.
func (c *Controller) setTaints(ctx context.Context, name string, add, remove []corev1.Taint) error {
	cached, err := c.nodes.Lister().Get(name)
	if err != nil {
		return err
	}
	has := func(n *corev1.Node, t corev1.Taint) bool {
		return slices.ContainsFunc(n.Spec.Taints, func(x corev1.Taint) bool { return x.MatchTaint(&t) })
	}
	needed := false
	for _, t := range add {
		needed = needed || !has(cached, t)
	}
	for _, t := range remove {
		needed = needed || has(cached, t)
	}
	if !needed {
		return nil
	}
	node, err := c.client.Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	updated := node.DeepCopy()
	updated.Spec.Taints = slices.DeleteFunc(updated.Spec.Taints, func(x corev1.Taint) bool {
		return slices.ContainsFunc(remove, func(t corev1.Taint) bool { return x.MatchTaint(&t) })
	})
	for _, t := range add {
		if !has(updated, t) {
			updated.Spec.Taints = append(updated.Spec.Taints, t)
		}
	}
	if _, err := c.client.Nodes().Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("taints of node %s: %w", name, err)
	}
	return nil
}
