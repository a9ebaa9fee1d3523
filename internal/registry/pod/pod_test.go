package pod

import (
	"context"
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apifields "k8s.io/apimachinery/pkg/fields"
	"k8s.io/utils/ptr"
)

func TestResourceDiscovery(t *testing.T) {
	r := Resource()
	got := []any{r.GroupVersion.String(), r.Kind, r.Name, r.SingularName, r.ShortNames, r.Categories, r.Namespaced, r.Verbs, r.Subresources}
	want := []any{"v1", "Pod", "pods", "pod", []string{"po"}, []string{"all"}, true,
		[]string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"},
		[]string{"status", "binding", "log"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("discovery = %v, want %v", got, want)
	}
	if _, ok := r.New().(*v1.Pod); !ok {
		t.Errorf("New() = %T", r.New())
	}
	if _, ok := r.NewList().(*v1.PodList); !ok {
		t.Errorf("NewList() = %T", r.NewList())
	}
}

func TestQOSClass(t *testing.T) {
	rl := func(cpu, mem string) v1.ResourceList {
		l := v1.ResourceList{}
		if cpu != "" {
			l[v1.ResourceCPU] = resource.MustParse(cpu)
		}
		if mem != "" {
			l[v1.ResourceMemory] = resource.MustParse(mem)
		}
		return l
	}
	ctr := func(req, lim v1.ResourceList) v1.Container {
		return v1.Container{Resources: v1.ResourceRequirements{Requests: req, Limits: lim}}
	}
	tests := []struct {
		name       string
		containers []v1.Container
		init       []v1.Container
		want       v1.PodQOSClass
	}{
		{"nothing", []v1.Container{ctr(nil, nil)}, nil, v1.PodQOSBestEffort},
		{"only an extended resource", []v1.Container{ctr(v1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}, nil)}, nil, v1.PodQOSBestEffort},
		{"zero requests", []v1.Container{ctr(rl("0", "0"), nil)}, nil, v1.PodQOSBestEffort},
		{"limits equal requests", []v1.Container{ctr(rl("1", "1Gi"), rl("1", "1Gi"))}, nil, v1.PodQOSGuaranteed},
		{"requests differ from limits", []v1.Container{ctr(rl("500m", "1Gi"), rl("1", "1Gi"))}, nil, v1.PodQOSBurstable},
		{"no memory limit", []v1.Container{ctr(rl("1", ""), rl("1", ""))}, nil, v1.PodQOSBurstable},
		{"one container without limits", []v1.Container{ctr(rl("1", "1Gi"), rl("1", "1Gi")), ctr(nil, nil)}, nil, v1.PodQOSBurstable},
		{"init container counts", []v1.Container{ctr(rl("1", "1Gi"), rl("1", "1Gi"))}, []v1.Container{ctr(rl("1", ""), nil)}, v1.PodQOSBurstable},
		{"guaranteed with init container", []v1.Container{ctr(rl("1", "1Gi"), rl("1", "1Gi"))}, []v1.Container{ctr(rl("2", "1Gi"), rl("2", "1Gi"))}, v1.PodQOSGuaranteed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &v1.Pod{Spec: v1.PodSpec{Containers: tt.containers, InitContainers: tt.init}}
			if got := qosClass(pod); got != tt.want {
				t.Errorf("qosClass = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestQOSClassUsesRequestsDefaultedFromLimits(t *testing.T) {
	pod := created(t, `
metadata: {name: p}
spec:
  containers:
  - name: a
    image: busybox
    resources: {limits: {cpu: 500m, memory: 128Mi}}`)
	if pod.Status.QOSClass != v1.PodQOSGuaranteed {
		t.Errorf("qosClass = %s, want Guaranteed", pod.Status.QOSClass)
	}
}

func TestPrepareForCreateResetsStatusKeepsNodeName(t *testing.T) {
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Generation: 9},
		Spec:       v1.PodSpec{NodeName: "node-1", Containers: []v1.Container{{Name: "a", Image: "busybox"}}},
		Status:     v1.PodStatus{Phase: v1.PodRunning, PodIP: "10.0.0.1"},
	}
	s := Resource().Strategy
	s.Default(pod)
	s.PrepareForCreate(context.Background(), pod)
	want := v1.PodStatus{Phase: v1.PodPending, QOSClass: v1.PodQOSBestEffort}
	if !reflect.DeepEqual(pod.Status, want) || pod.Generation != 1 || pod.Spec.NodeName != "node-1" {
		t.Errorf("status %+v generation %d nodeName %q; want %+v, 1, node-1", pod.Status, pod.Generation, pod.Spec.NodeName, want)
	}
}

func TestCheckGracefulDelete(t *testing.T) {
	tests := []struct {
		name         string
		nodeName     string
		phase        v1.PodPhase
		podGrace     *int64
		optsGrace    *int64
		wantGraceful bool
		wantGrace    int64
	}{
		{"bound pod uses its grace period", "node-1", v1.PodRunning, ptr.To[int64](30), nil, true, 30},
		{"options override the pod", "node-1", v1.PodRunning, ptr.To[int64](30), ptr.To[int64](5), true, 5},
		{"--now", "node-1", v1.PodRunning, ptr.To[int64](30), ptr.To[int64](1), true, 1},
		{"--force --grace-period=0", "node-1", v1.PodRunning, ptr.To[int64](30), ptr.To[int64](0), false, 0},
		{"negative becomes 1", "node-1", v1.PodRunning, ptr.To[int64](-5), nil, true, 1},
		{"unbound pod goes at once", "", v1.PodPending, ptr.To[int64](30), ptr.To[int64](10), false, 0},
		{"succeeded pod goes at once", "node-1", v1.PodSucceeded, ptr.To[int64](30), nil, false, 0},
		{"failed pod goes at once", "node-1", v1.PodFailed, ptr.To[int64](30), nil, false, 0},
		{"no grace period anywhere", "node-1", v1.PodRunning, nil, nil, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &v1.Pod{Spec: v1.PodSpec{NodeName: tt.nodeName, TerminationGracePeriodSeconds: tt.podGrace}, Status: v1.PodStatus{Phase: tt.phase}}
			opts := &metav1.DeleteOptions{GracePeriodSeconds: tt.optsGrace}
			graceful := Resource().Strategy.CheckGracefulDelete(context.Background(), pod, opts)
			if graceful != tt.wantGraceful || opts.GracePeriodSeconds == nil || *opts.GracePeriodSeconds != tt.wantGrace {
				t.Errorf("graceful %v grace %v, want %v %d", graceful, opts.GracePeriodSeconds, tt.wantGraceful, tt.wantGrace)
			}
		})
	}
	if Resource().Strategy.CheckGracefulDelete(context.Background(), &v1.Pod{}, nil) {
		t.Error("a delete without options is graceful")
	}
}

func TestReadyToRemove(t *testing.T) {
	tests := []struct {
		grace *int64
		want  bool
	}{{nil, true}, {ptr.To[int64](0), true}, {ptr.To[int64](30), false}}
	for _, tt := range tests {
		pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &metav1.Time{}, DeletionGracePeriodSeconds: tt.grace}}
		if got := Resource().Strategy.ReadyToRemove(pod); got != tt.want {
			t.Errorf("ReadyToRemove(grace %v) = %v, want %v", tt.grace, got, tt.want)
		}
	}
}

func TestSelectableFields(t *testing.T) {
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: v1.PodSpec{NodeName: "node-1", RestartPolicy: v1.RestartPolicyAlways, SchedulerName: "default-scheduler",
			ServiceAccountName: "default", HostNetwork: true},
		Status: v1.PodStatus{Phase: v1.PodRunning, PodIPs: []v1.PodIP{{IP: "10.0.0.5"}, {IP: "fd00::5"}}, NominatedNodeName: "n2"},
	}
	want := apifields.Set{
		"metadata.name": "web", "metadata.namespace": "default", "spec.nodeName": "node-1",
		"spec.restartPolicy": "Always", "spec.schedulerName": "default-scheduler", "spec.serviceAccountName": "default",
		"spec.hostNetwork": "true", "status.phase": "Running", "status.podIP": "10.0.0.5", "status.nominatedNodeName": "n2",
	}
	if got := Resource().Strategy.SelectableFields(pod); !reflect.DeepEqual(got, want) {
		t.Errorf("SelectableFields = %v, want %v", got, want)
	}
	// The API layer learns the selectable labels from an empty pod: every key must be there.
	if got := len(Resource().Strategy.SelectableFields(&v1.Pod{})); got != len(want)-1 {
		t.Errorf("empty pod has %d selectable fields, want %d (all but metadata.namespace)", got, len(want)-1)
	}
}

func TestWarnings(t *testing.T) {
	s := Resource().Strategy
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web.v1"}, Spec: v1.PodSpec{TerminationGracePeriodSeconds: ptr.To[int64](-1)}}
	got := s.Warnings(context.Background(), pod, nil)
	want := []string{
		`metadata.name: this is used in the Pod's hostname, which can result in surprising behavior; a DNS label is recommended: [must not contain dots]`,
		`spec.terminationGracePeriodSeconds: must be >= 0; negative values are invalid and will be treated as 1`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warnings = %q, want %q", got, want)
	}
	if got := s.Warnings(context.Background(), pod, pod); got != nil {
		t.Errorf("update warnings = %q, want none", got)
	}
}

func BenchmarkCreate(b *testing.B) {
	s := Resource().Strategy
	ctx := context.Background()
	base := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: v1.PodSpec{Containers: []v1.Container{{Name: "web", Image: "nginx:1.27",
			Ports:     []v1.ContainerPort{{ContainerPort: 80}},
			Resources: v1.ResourceRequirements{Limits: v1.ResourceList{v1.ResourceMemory: resource.MustParse("128Mi")}}}}},
	}
	for i := 0; i < b.N; i++ {
		pod := base.DeepCopy()
		s.Default(pod)
		s.PrepareForCreate(ctx, pod)
		if errs := s.Validate(ctx, pod); len(errs) != 0 {
			b.Fatal(errs)
		}
	}
}
