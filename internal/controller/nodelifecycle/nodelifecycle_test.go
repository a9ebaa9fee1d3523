package nodelifecycle

import (
	"context"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/peapod-dev/peapod/internal/controller/controllertest"
	"github.com/peapod-dev/peapod/internal/kube"
	"github.com/peapod-dev/peapod/internal/kube/kubefake"
)

func node(name string, ready corev1.ConditionStatus, created time.Time) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created)},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: ready, LastHeartbeatTime: metav1.NewTime(created)},
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: metav1.NewTime(created)},
		}},
	}
}

func lease(name string, renewed time.Time) *coordinationv1.Lease {
	t := metav1.NewMicroTime(renewed)
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease}, Spec: coordinationv1.LeaseSpec{RenewTime: &t}}
}

func TestNodeHealth(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	old := now.Add(-2 * GracePeriod)
	for _, tc := range []struct {
		name      string
		node      *corev1.Node
		lease     *coordinationv1.Lease
		taints    []string
		readyWant corev1.ConditionStatus
	}{
		{"renewing and ready", node("a", corev1.ConditionTrue, old), lease("a", now.Add(-time.Second)), nil, corev1.ConditionTrue},
		{"silent", node("b", corev1.ConditionTrue, old), lease("b", old), []string{corev1.TaintNodeUnreachable}, corev1.ConditionUnknown},
		{"never renewed, just created", node("c", corev1.ConditionTrue, now.Add(-time.Second)), nil, nil, corev1.ConditionTrue},
		{"not ready", node("d", corev1.ConditionFalse, old), lease("d", now), []string{corev1.TaintNodeNotReady}, corev1.ConditionFalse},
		{"back from silence", func() *corev1.Node {
			n := node("e", corev1.ConditionTrue, old)
			n.Spec.Taints = []corev1.Taint{unreachableTaint, {Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
			return n
		}(), lease("e", now), []string{"dedicated"}, corev1.ConditionTrue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := []any{tc.node}
			if tc.lease != nil {
				objs = append(objs, tc.lease)
			}
			client := kubefake.NewClientset()
			for _, o := range objs {
				switch o := o.(type) {
				case *corev1.Node:
					_, _ = client.Nodes().Create(context.Background(), o, metav1.CreateOptions{})
				case *coordinationv1.Lease:
					_, _ = client.Leases(o.Namespace).Create(context.Background(), o, metav1.CreateOptions{})
				}
			}
			factory := kube.NewInformerFactory(client)
			c := New(client, factory, controllertest.DiscardLogger())
			c.now = func() time.Time { return now }
			ctx, cancel := context.WithCancel(context.Background())
			factory.Start(ctx)
			defer func() { cancel(); factory.Shutdown() }()
			cache.WaitForCacheSync(ctx.Done(), c.nodes.Informer().HasSynced, c.leases.Informer().HasSynced)
			if err := c.check(ctx, tc.node); err != nil {
				t.Fatal(err)
			}
			got, err := client.Nodes().Get(ctx, tc.node.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, taint := range got.Spec.Taints {
				keys = append(keys, taint.Key)
				if taint.Effect != corev1.TaintEffectNoSchedule {
					t.Errorf("taint %s has effect %s", taint.Key, taint.Effect)
				}
			}
			if len(keys) != len(tc.taints) || (len(keys) > 0 && keys[0] != tc.taints[0]) {
				t.Errorf("taints %v, want %v", keys, tc.taints)
			}
			if st := readyStatus(got); st != tc.readyWant {
				t.Errorf("Ready %s, want %s", st, tc.readyWant)
			}
			if tc.readyWant == corev1.ConditionUnknown {
				for _, cond := range got.Status.Conditions {
					if cond.Status != corev1.ConditionUnknown || cond.Reason != "NodeStatusUnknown" || cond.Message != "Kubelet stopped posting node status." {
						t.Errorf("condition %s: %s %s %q", cond.Type, cond.Status, cond.Reason, cond.Message)
					}
				}
			}
		})
	}
}
