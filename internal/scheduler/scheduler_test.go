package scheduler

import (
	"context"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"

	"github.com/peapod-dev/peapod/internal/controller/controllertest"
	"github.com/peapod-dev/peapod/internal/kube"
	"github.com/peapod-dev/peapod/internal/kube/kubefake"
)

// bindings records the pods/binding creates the scheduler sends, and makes the fake apply them as the API
// server does (spec.nodeName set), so the informer sees the pod bound.
type bindings struct {
	mu   sync.Mutex
	seen []string // "ns/pod->node"
}

func (b *bindings) react(client *kubefake.Clientset) clienttesting.ReactionFunc {
	return func(action clienttesting.Action) (bool, runtime.Object, error) {
		create, ok := action.(clienttesting.CreateAction)
		if !ok || action.GetSubresource() != "binding" {
			return false, nil, nil
		}
		binding := create.GetObject().(*corev1.Binding)
		obj, err := client.Tracker().Get(corev1.SchemeGroupVersion.WithResource("pods"), binding.Namespace, binding.Name)
		if err != nil {
			return true, nil, err
		}
		pod := obj.(*corev1.Pod).DeepCopy()
		pod.Spec.NodeName = binding.Target.Name
		if err := client.Tracker().Update(corev1.SchemeGroupVersion.WithResource("pods"), pod, pod.Namespace); err != nil {
			return true, nil, err
		}
		b.mu.Lock()
		b.seen = append(b.seen, binding.Namespace+"/"+binding.Name+"->"+binding.Target.Name)
		b.mu.Unlock()
		return true, binding, nil
	}
}

func (b *bindings) list() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.seen, ",")
}

func pendingPod(name string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	pod := testPod(name, mutate...)
	pod.UID = types.UID("uid-" + name)
	pod.Spec.SchedulerName = Name
	return pod
}

func TestSchedulerBindsAndRetriesWhenNodesChange(t *testing.T) {
	node := testNode("n1", nil, "2", "4Gi", 110)
	ssd := pendingPod("ssd", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disktype": "ssd"} })
	plain := pendingPod("plain")
	other := pendingPod("other-scheduler")
	other.Spec.SchedulerName = "my-scheduler"
	client := kubefake.NewClientset(node, ssd, plain, other)
	var bound bindings
	client.PrependReactor("create", "pods", bound.react(client))
	recorder := record.NewFakeRecorder(100)

	factory := kube.NewInformerFactory(client)
	s, err := New(client, factory, recorder, controllertest.DiscardLogger())
	if err != nil {
		t.Fatal(err)
	}
	stop := controllertest.Start(t, factory, func(ctx context.Context) { s.Run(ctx, 1) })
	defer stop()

	controllertest.Eventually(t, "plain pod bound", func() bool { return bound.list() == "default/plain->n1" })
	wantFailure := "Warning FailedScheduling 0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
	var events []string
	controllertest.Eventually(t, "events", func() bool {
		for {
			select {
			case e := <-recorder.Events:
				events = append(events, e)
				continue
			default:
			}
			break
		}
		joined := strings.Join(events, "\n")
		return strings.Contains(joined, "Normal Scheduled Successfully assigned default/plain to n1") && strings.Contains(joined, wantFailure)
	})
	controllertest.Eventually(t, "PodScheduled False", func() bool {
		obj, err := client.Tracker().Get(corev1.SchemeGroupVersion.WithResource("pods"), "default", "ssd")
		if err != nil {
			return false
		}
		for _, c := range obj.(*corev1.Pod).Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == "Unschedulable" && "Warning FailedScheduling "+c.Message == wantFailure {
				return true
			}
		}
		return false
	})

	labelled := node.DeepCopy()
	labelled.Labels = map[string]string{"disktype": "ssd"}
	if _, err := client.Nodes().Update(context.Background(), labelled, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "ssd pod bound after the label", func() bool {
		return bound.list() == "default/plain->n1,default/ssd->n1"
	})
	if strings.Contains(bound.list(), "other-scheduler") {
		t.Errorf("bound a pod of another scheduler: %s", bound.list())
	}
}

func TestAssumedPodsCountUntilTheInformerShowsThem(t *testing.T) {
	// Room for one 1-CPU pod: of two created at once, exactly one is bound even though the informer may
	// not have shown the first binding when the second is scheduled.
	node := testNode("n1", nil, "1", "4Gi", 110)
	a := pendingPod("a", requesting("1", ""))
	b := pendingPod("b", requesting("1", ""))
	client := kubefake.NewClientset(node, a, b)
	var bound bindings
	client.PrependReactor("create", "pods", bound.react(client))
	factory := kube.NewInformerFactory(client)
	s, err := New(client, factory, record.NewFakeRecorder(100), controllertest.DiscardLogger())
	if err != nil {
		t.Fatal(err)
	}
	stop := controllertest.Start(t, factory, func(ctx context.Context) { s.Run(ctx, 2) })
	defer stop()
	controllertest.Eventually(t, "one bound, one unschedulable", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.unschedulable) == 1
	})
	if got := bound.list(); got != "default/a->n1" && got != "default/b->n1" {
		t.Errorf("bindings %q, want exactly one", got)
	}
}
