package pod

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestTableColumns(t *testing.T) {
	var names, wide []string
	for _, c := range (Strategy{}).TableColumns() {
		if c.Description == "" {
			t.Errorf("column %q has no description", c.Name)
		}
		if c.Priority == 0 {
			names = append(names, c.Name)
		} else {
			wide = append(wide, c.Name)
		}
	}
	if want := []string{"Name", "Ready", "Status", "Restarts", "Age"}; !reflect.DeepEqual(names, want) {
		t.Errorf("columns %v, want %v", names, want)
	}
	if want := []string{"IP", "Node", "Nominated Node", "Readiness Gates"}; !reflect.DeepEqual(wide, want) {
		t.Errorf("wide columns %v, want %v", wide, want)
	}
}

// The cases follow Kubernetes' printers_test.go (TestPrintPod, TestPrintPodWithRestartableInitContainer,
// TestPrintPodwide) plus the statuses a peapod node reports.
func TestPrintPodCells(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }
	finishedAgo := func(d time.Duration) corev1.ContainerState {
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: ago(d)}}
	}
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	waiting := func(reason string) corev1.ContainerState {
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
	}
	terminated := func(reason string, exit, signal int32) corev1.ContainerState {
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: exit, Signal: signal}}
	}
	always := ptr.To(corev1.ContainerRestartPolicyAlways)
	deleting := ago(10 * time.Second)
	containers := func(n int) []corev1.Container { return make([]corev1.Container, n) }

	tests := []struct {
		name string
		pod  corev1.Pod
		want []interface{} // the five default cells
	}{
		{"ready count and restarts", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test1"},
			Spec:       corev1.PodSpec{Containers: containers(2)},
			Status: corev1.PodStatus{Phase: "podPhase", ContainerStatuses: []corev1.ContainerStatus{
				{Ready: true, RestartCount: 3, State: running}, {RestartCount: 3}}},
		}, []interface{}{"test1", "1/2", "podPhase", "6", "<unknown>"}},
		{"waiting reason overrides phase", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test2"},
			Spec:       corev1.PodSpec{Containers: containers(2)},
			Status: corev1.PodStatus{Phase: "podPhase", ContainerStatuses: []corev1.ContainerStatus{
				{Ready: true, RestartCount: 3, State: running}, {State: waiting("ContainerWaitingReason"), RestartCount: 3}}},
		}, []interface{}{"test2", "1/2", "ContainerWaitingReason", "6", "<unknown>"}},
		{"first container's reason wins", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test3"},
			Spec:       corev1.PodSpec{Containers: containers(2)},
			Status: corev1.PodStatus{Phase: "podPhase", ContainerStatuses: []corev1.ContainerStatus{
				{State: waiting("ContainerWaitingReason"), RestartCount: 3}, {State: terminated("ContainerTerminatedReason", 0, 0), RestartCount: 3}}},
		}, []interface{}{"test3", "0/2", "ContainerWaitingReason", "6", "<unknown>"}},
		{"ready without running is not ready", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test4"},
			Spec:       corev1.PodSpec{Containers: containers(2)},
			Status: corev1.PodStatus{Phase: "podPhase", ContainerStatuses: []corev1.ContainerStatus{
				{Ready: true, RestartCount: 3, State: running}, {Ready: true, RestartCount: 3}}},
		}, []interface{}{"test4", "1/2", "podPhase", "6", "<unknown>"}},
		{"pod reason overrides phase", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test5"},
			Spec:       corev1.PodSpec{Containers: containers(1)},
			Status:     corev1.PodStatus{Reason: "Evicted", Phase: corev1.PodFailed},
		}, []interface{}{"test5", "0/1", "Evicted", "0", "<unknown>"}},
		{"completed plus running without ready condition", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test6"},
			Spec:       corev1.PodSpec{Containers: containers(2)},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
				{Ready: true, RestartCount: 3, State: terminated("Completed", 0, 0)}, {Ready: true, RestartCount: 3, State: running}}},
		}, []interface{}{"test6", "1/2", "NotReady", "6", "<unknown>"}},
		{"completed plus running with ready condition", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test7"},
			Spec:       corev1.PodSpec{Containers: containers(2)},
			Status: corev1.PodStatus{Phase: corev1.PodRunning,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
				ContainerStatuses: []corev1.ContainerStatus{
					{Ready: true, RestartCount: 3, State: terminated("Completed", 0, 0)}, {Ready: true, RestartCount: 3, State: running}}},
		}, []interface{}{"test7", "1/2", "Running", "6", "<unknown>"}},
		{"init container running: Init:0/1 with its restarts", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test8"},
			Spec:       corev1.PodSpec{InitContainers: containers(1), Containers: containers(1)},
			Status: corev1.PodStatus{Phase: corev1.PodPending,
				InitContainerStatuses: []corev1.ContainerStatus{{RestartCount: 3, State: running, LastTerminationState: finishedAgo(10 * time.Second)}},
				ContainerStatuses:     []corev1.ContainerStatus{{State: waiting("")}}},
		}, []interface{}{"test8", "0/1", "Init:0/1", "3 (10s ago)", "<unknown>"}},
		{"second of two init containers: Init:1/2, restarts summed", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test9"},
			Spec:       corev1.PodSpec{InitContainers: containers(2), Containers: containers(1)},
			Status: corev1.PodStatus{Phase: corev1.PodPending,
				InitContainerStatuses: []corev1.ContainerStatus{
					{RestartCount: 2, State: terminated("", 0, 0), LastTerminationState: finishedAgo(2 * time.Minute)},
					{RestartCount: 3, State: running, LastTerminationState: finishedAgo(10 * time.Second)}},
				ContainerStatuses: []corev1.ContainerStatus{{State: waiting("")}}},
		}, []interface{}{"test9", "0/1", "Init:1/2", "5 (10s ago)", "<unknown>"}},
		{"initialised pod counts only app restarts", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test10"},
			Spec:       corev1.PodSpec{InitContainers: containers(1), Containers: containers(1)},
			Status: corev1.PodStatus{Phase: corev1.PodRunning,
				InitContainerStatuses: []corev1.ContainerStatus{{RestartCount: 2, State: terminated("", 0, 0), LastTerminationState: finishedAgo(2 * time.Minute)}},
				ContainerStatuses:     []corev1.ContainerStatus{{RestartCount: 4, State: running, LastTerminationState: finishedAgo(20 * time.Second)}}},
		}, []interface{}{"test10", "0/1", "Running", "4 (20s ago)", "<unknown>"}},
		{"latest restart of several containers", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test11"},
			Spec:       corev1.PodSpec{Containers: containers(2)},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
				{Ready: true, RestartCount: 6, State: running, LastTerminationState: finishedAgo(5 * 24 * time.Hour)},
				{Ready: true, RestartCount: 3, State: running, LastTerminationState: finishedAgo(20 * 24 * time.Hour)}}},
		}, []interface{}{"test11", "2/2", "Running", "9 (5d ago)", "<unknown>"}},
		{"init container waiting reason", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test12"},
			Spec:       corev1.PodSpec{InitContainers: containers(2), Containers: containers(1)},
			Status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
				{State: waiting("ImagePullBackOff")}, {State: waiting("PodInitializing")}}},
		}, []interface{}{"test12", "0/1", "Init:ImagePullBackOff", "0", "<unknown>"}},
		{"init container PodInitializing counts as Init:N/M", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test13"},
			Spec:       corev1.PodSpec{InitContainers: containers(2), Containers: containers(1)},
			Status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
				{State: waiting("PodInitializing")}}},
		}, []interface{}{"test13", "0/1", "Init:0/2", "0", "<unknown>"}},
		{"init container failed with a reason", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test14"},
			Spec:       corev1.PodSpec{InitContainers: containers(1), Containers: containers(1)},
			Status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
				{State: terminated("Error", 1, 0)}}},
		}, []interface{}{"test14", "0/1", "Init:Error", "0", "<unknown>"}},
		{"init container failed with a signal", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test15"},
			Spec:       corev1.PodSpec{InitContainers: containers(1), Containers: containers(1)},
			Status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
				{State: terminated("", 137, 9)}}},
		}, []interface{}{"test15", "0/1", "Init:Signal:9", "0", "<unknown>"}},
		{"init container failed with an exit code", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test16"},
			Spec:       corev1.PodSpec{InitContainers: containers(1), Containers: containers(1)},
			Status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
				{State: terminated("", 3, 0)}}},
		}, []interface{}{"test16", "0/1", "Init:ExitCode:3", "0", "<unknown>"}},
		{"crash loop", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test17"},
			Spec:       corev1.PodSpec{Containers: containers(1)},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
				{RestartCount: 5, State: waiting("CrashLoopBackOff"), LastTerminationState: finishedAgo(90 * time.Second)}}},
		}, []interface{}{"test17", "0/1", "CrashLoopBackOff", "5 (90s ago)", "<unknown>"}},
		{"container creating", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test18"},
			Spec:       corev1.PodSpec{Containers: containers(1)},
			Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{
				{State: waiting("ContainerCreating")}}},
		}, []interface{}{"test18", "0/1", "ContainerCreating", "0", "<unknown>"}},
		{"OOM killed", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test19"},
			Spec:       corev1.PodSpec{Containers: containers(1)},
			Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{
				{State: terminated("OOMKilled", 137, 0)}}},
		}, []interface{}{"test19", "0/1", "OOMKilled", "0", "<unknown>"}},
		{"terminated by a signal without reason", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test20"},
			Spec:       corev1.PodSpec{Containers: containers(1)},
			Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{
				{State: terminated("", 143, 15)}}},
		}, []interface{}{"test20", "0/1", "Signal:15", "0", "<unknown>"}},
		{"terminated with an exit code without reason", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test21"},
			Spec:       corev1.PodSpec{Containers: containers(1)},
			Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{
				{State: terminated("", 2, 0)}}},
		}, []interface{}{"test21", "0/1", "ExitCode:2", "0", "<unknown>"}},
		{"scheduling gated", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test22"},
			Spec:       corev1.PodSpec{Containers: containers(2)},
			Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonSchedulingGated}}},
		}, []interface{}{"test22", "0/2", "SchedulingGated", "0", "<unknown>"}},
		{"succeeded pod being deleted stays Completed", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test23", DeletionTimestamp: &deleting},
			Spec:       corev1.PodSpec{Containers: containers(1)},
			Status: corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{
				{State: terminated("Completed", 0, 0)}}},
		}, []interface{}{"test23", "0/1", "Completed", "0", "<unknown>"}},
		{"running pod being deleted", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test24", DeletionTimestamp: &deleting},
			Spec:       corev1.PodSpec{Containers: containers(1)},
			Status:     corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{State: running}}},
		}, []interface{}{"test24", "0/1", "Terminating", "0", "<unknown>"}},
		{"pending pod being deleted", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test25", DeletionTimestamp: &deleting},
			Spec:       corev1.PodSpec{Containers: containers(1)},
			Status:     corev1.PodStatus{Phase: corev1.PodPending},
		}, []interface{}{"test25", "0/1", "Terminating", "0", "<unknown>"}},
		{"pod on a lost node being deleted", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test26", DeletionTimestamp: &deleting},
			Spec:       corev1.PodSpec{Containers: containers(1)},
			Status:     corev1.PodStatus{Phase: corev1.PodRunning, Reason: "NodeLost"},
		}, []interface{}{"test26", "0/1", "Unknown", "0", "<unknown>"}},
		{"sidecars: first running but not started", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test27"},
			Spec: corev1.PodSpec{
				InitContainers: []corev1.Container{{Name: "s1", RestartPolicy: always}, {Name: "s2", RestartPolicy: always}},
				Containers:     containers(1)},
			Status: corev1.PodStatus{Phase: corev1.PodPending,
				InitContainerStatuses: []corev1.ContainerStatus{
					{Name: "s1", RestartCount: 3, State: running, Started: ptr.To(false), LastTerminationState: finishedAgo(10 * time.Second)},
					{Name: "s2", State: waiting(""), Started: ptr.To(false)}},
				ContainerStatuses: []corev1.ContainerStatus{{State: waiting("")}},
				Conditions:        []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionFalse}}},
		}, []interface{}{"test27", "0/3", "Init:0/2", "3 (10s ago)", "<unknown>"}},
		{"sidecars: first started, second not yet", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test28"},
			Spec: corev1.PodSpec{
				InitContainers: []corev1.Container{{Name: "s1", RestartPolicy: always}, {Name: "s2", RestartPolicy: always}},
				Containers:     containers(1)},
			Status: corev1.PodStatus{Phase: corev1.PodPending,
				InitContainerStatuses: []corev1.ContainerStatus{
					{Name: "s1", RestartCount: 3, State: running, Started: ptr.To(true), LastTerminationState: finishedAgo(10 * time.Second)},
					{Name: "s2", State: running, Started: ptr.To(false)}},
				ContainerStatuses: []corev1.ContainerStatus{{State: waiting("")}},
				Conditions:        []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionFalse}}},
		}, []interface{}{"test28", "0/3", "Init:1/2", "3 (10s ago)", "<unknown>"}},
		{"sidecars started and app running", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test29"},
			Spec: corev1.PodSpec{
				InitContainers: []corev1.Container{{Name: "s1", RestartPolicy: always}, {Name: "s2", RestartPolicy: always}},
				Containers:     containers(1)},
			Status: corev1.PodStatus{Phase: corev1.PodRunning,
				InitContainerStatuses: []corev1.ContainerStatus{
					{Name: "s1", RestartCount: 3, State: running, Started: ptr.To(true), LastTerminationState: finishedAgo(10 * time.Second)},
					{Name: "s2", Ready: true, State: running, Started: ptr.To(true)}},
				ContainerStatuses: []corev1.ContainerStatus{{Ready: true, RestartCount: 4, State: running, LastTerminationState: finishedAgo(20 * time.Second)}},
				Conditions:        []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}}},
		}, []interface{}{"test29", "2/3", "Running", "7 (10s ago)", "<unknown>"}},
		{"sidecars terminated with errors after the app completed", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test30"},
			Spec: corev1.PodSpec{
				InitContainers: []corev1.Container{{Name: "s1", RestartPolicy: always}, {Name: "s2", RestartPolicy: always}},
				Containers:     containers(1)},
			Status: corev1.PodStatus{Phase: corev1.PodSucceeded,
				InitContainerStatuses: []corev1.ContainerStatus{
					{Name: "s1", RestartCount: 3, State: terminated("Error", 137, 0), Started: ptr.To(false), LastTerminationState: finishedAgo(10 * time.Second)},
					{Name: "s2", State: terminated("Error", 137, 0), Started: ptr.To(false)}},
				ContainerStatuses: []corev1.ContainerStatus{{RestartCount: 4, State: terminated("Completed", 0, 0), LastTerminationState: finishedAgo(20 * time.Second)}},
				Conditions:        []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}}},
		}, []interface{}{"test30", "0/3", "Completed", "7 (10s ago)", "<unknown>"}},
		{"statuses for containers the spec does not name", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "test31"},
			Spec: corev1.PodSpec{
				InitContainers: []corev1.Container{{Name: "init1"}, {Name: "sidecar1", RestartPolicy: always}},
				Containers:     []corev1.Container{{Name: "container1"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning,
				InitContainerStatuses: []corev1.ContainerStatus{{Name: "initinvalid"}, {Name: "init1"}, {Name: "sidecar1"}},
				ContainerStatuses:     []corev1.ContainerStatus{{Name: "containerinvalid"}, {Name: "container1"}}},
		}, []interface{}{"test31", "0/2", "Init:0/2", "0", "<unknown>"}},
		{"age", corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "kubia", CreationTimestamp: metav1.NewTime(time.Now().Add(-5 * 24 * time.Hour))},
			Spec:       corev1.PodSpec{Containers: containers(1)},
			Status:     corev1.PodStatus{Phase: corev1.PodPending},
		}, []interface{}{"kubia", "0/1", "Pending", "0", "5d"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := printPodCells(&tc.pod, now)
			if len(got) != 9 {
				t.Fatalf("%d cells, want 9", len(got))
			}
			if !reflect.DeepEqual(got[:5], tc.want) {
				t.Errorf("cells\n got %#v\nwant %#v", got[:5], tc.want)
			}
		})
	}
}

func TestPrintPodWideCells(t *testing.T) {
	now := time.Now()
	gates := []corev1.PodReadinessGate{{ConditionType: "condition1"}, {ConditionType: "condition2"}, {ConditionType: "condition3"}}
	tests := []struct {
		name string
		pod  corev1.Pod
		want []interface{} // the four wide cells
	}{
		{"bound pod with gates", corev1.Pod{
			Spec: corev1.PodSpec{Containers: make([]corev1.Container, 2), NodeName: "test1", ReadinessGates: gates},
			Status: corev1.PodStatus{
				Conditions: []corev1.PodCondition{{Type: "condition1", Status: corev1.ConditionFalse},
					{Type: "condition2", Status: corev1.ConditionTrue}, {Type: "condition2", Status: corev1.ConditionFalse}},
				PodIP: "1.1.1.1", PodIPs: []corev1.PodIP{{IP: "1.1.1.1"}, {IP: "2001:db8::"}}, NominatedNodeName: "node1"},
		}, []interface{}{"1.1.1.1", "test1", "node1", "1/3"}},
		{"podIP without podIPs", corev1.Pod{
			Spec:   corev1.PodSpec{Containers: make([]corev1.Container, 1), NodeName: "n"},
			Status: corev1.PodStatus{PodIP: "10.42.0.7"},
		}, []interface{}{"10.42.0.7", "n", "<none>", "<none>"}},
		{"pending pod", corev1.Pod{
			Spec: corev1.PodSpec{Containers: make([]corev1.Container, 2)},
		}, []interface{}{"<none>", "<none>", "<none>", "<none>"}},
	}
	for _, tc := range tests {
		if got := printPodCells(&tc.pod, now)[5:]; !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: wide cells %#v, want %#v", tc.name, got, tc.want)
		}
	}
}

func TestTableRow(t *testing.T) {
	s := Strategy{}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "kubia"}, Spec: corev1.PodSpec{Containers: make([]corev1.Container, 1)},
		Status: corev1.PodStatus{Phase: corev1.PodPending}}
	cells, err := s.TableRow(pod)
	if err != nil {
		t.Fatal(err)
	}
	want := []interface{}{"kubia", "0/1", "Pending", "0", "<unknown>", "<none>", "<none>", "<none>", "<none>"}
	if !reflect.DeepEqual(cells, want) || len(cells) != len(s.TableColumns()) {
		t.Errorf("row %#v", cells)
	}
	if _, err := s.TableRow(&corev1.Node{}); err == nil {
		t.Error("TableRow accepted a Node")
	}
}

// BenchmarkTableRow measures one pod row; listing 10,000 pods as a Table must stay well under 300 ms.
func BenchmarkTableRow(b *testing.B) {
	s := Strategy{}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "kubia", CreationTimestamp: metav1.NewTime(time.Now().Add(-time.Hour))},
		Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "init"}},
			Containers: []corev1.Container{{Name: "a"}, {Name: "b"}}, NodeName: "node1"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIPs: []corev1.PodIP{{IP: "10.42.0.7"}},
			Conditions:            []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			InitContainerStatuses: []corev1.ContainerStatus{{Name: "init", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{}}}},
			ContainerStatuses: []corev1.ContainerStatus{
				{Name: "a", Ready: true, RestartCount: 2, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(time.Now().Add(-time.Minute))}}},
				{Name: "b", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}},
	}
	for b.Loop() {
		if _, err := s.TableRow(pod); err != nil {
			b.Fatal(err)
		}
	}
}
