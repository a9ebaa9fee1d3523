package agent

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func running() corev1.ContainerStatus {
	return corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}, Ready: true}
}
func waiting(reason string) corev1.ContainerStatus {
	return corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
}
func exited(code int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}
}

func TestPodPhase(t *testing.T) {
	spec := func(policy corev1.RestartPolicy, inits, apps int) *corev1.PodSpec {
		s := &corev1.PodSpec{RestartPolicy: policy}
		for range inits {
			s.InitContainers = append(s.InitContainers, corev1.Container{})
		}
		for range apps {
			s.Containers = append(s.Containers, corev1.Container{})
		}
		return s
	}
	for _, tc := range []struct {
		name  string
		spec  *corev1.PodSpec
		init  []corev1.ContainerStatus
		app   []corev1.ContainerStatus
		phase corev1.PodPhase
	}{
		{"all running", spec(corev1.RestartPolicyAlways, 0, 2), nil, []corev1.ContainerStatus{running(), running()}, corev1.PodRunning},
		{"one still creating", spec(corev1.RestartPolicyAlways, 0, 2), nil, []corev1.ContainerStatus{running(), waiting("ContainerCreating")}, corev1.PodPending},
		{"never, all succeeded", spec(corev1.RestartPolicyNever, 0, 2), nil, []corev1.ContainerStatus{exited(0), exited(0)}, corev1.PodSucceeded},
		{"never, one failed", spec(corev1.RestartPolicyNever, 0, 2), nil, []corev1.ContainerStatus{exited(0), exited(1)}, corev1.PodFailed},
		{"never, one still running", spec(corev1.RestartPolicyNever, 0, 2), nil, []corev1.ContainerStatus{exited(1), running()}, corev1.PodRunning},
		{"always, all exited", spec(corev1.RestartPolicyAlways, 0, 1), nil, []corev1.ContainerStatus{exited(0)}, corev1.PodRunning},
		{"on failure, failed", spec(corev1.RestartPolicyOnFailure, 0, 1), nil, []corev1.ContainerStatus{exited(2)}, corev1.PodRunning},
		{"on failure, succeeded", spec(corev1.RestartPolicyOnFailure, 0, 1), nil, []corev1.ContainerStatus{exited(0)}, corev1.PodSucceeded},
		{"init running", spec(corev1.RestartPolicyAlways, 1, 1), []corev1.ContainerStatus{running()}, []corev1.ContainerStatus{waiting("PodInitializing")}, corev1.PodPending},
		{"init failed under never", spec(corev1.RestartPolicyNever, 1, 1), []corev1.ContainerStatus{exited(1)}, []corev1.ContainerStatus{waiting("PodInitializing")}, corev1.PodFailed},
		{"init done, app running", spec(corev1.RestartPolicyNever, 2, 1), []corev1.ContainerStatus{exited(0), exited(0)}, []corev1.ContainerStatus{running()}, corev1.PodRunning},
	} {
		if got := podPhase(tc.spec, tc.init, tc.app); got != tc.phase {
			t.Errorf("%s: phase %s, want %s", tc.name, got, tc.phase)
		}
	}
}

func TestPodConditions(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "init-a"}}, Containers: []corev1.Container{{Name: "a"}, {Name: "b"}}}}
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}
	now := metav1.Now()
	a, b := running(), waiting("PodInitializing")
	a.Name, b.Name = "a", "b"
	got := podConditions(pod, corev1.PodPending, true, []corev1.ContainerStatus{running()}, []corev1.ContainerStatus{a, b}, now)
	want := []struct {
		t       corev1.PodConditionType
		status  corev1.ConditionStatus
		reason  string
		message string
	}{
		{corev1.PodReadyToStartContainers, corev1.ConditionTrue, "", ""},
		{corev1.PodInitialized, corev1.ConditionFalse, "ContainersNotInitialized", "containers with incomplete status: [init-a]"},
		{corev1.PodReady, corev1.ConditionFalse, "ContainersNotReady", "containers with unready status: [b]"},
		{corev1.ContainersReady, corev1.ConditionFalse, "ContainersNotReady", "containers with unready status: [b]"},
		{corev1.PodScheduled, corev1.ConditionTrue, "", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("%d conditions, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if g := got[i]; g.Type != w.t || g.Status != w.status || g.Reason != w.reason || g.Message != w.message {
			t.Errorf("condition %d = %s %s %q %q, want %s %s %q %q", i, g.Type, g.Status, g.Reason, g.Message, w.t, w.status, w.reason, w.message)
		}
	}
	done := podConditions(pod, corev1.PodSucceeded, true, []corev1.ContainerStatus{exited(0)}, []corev1.ContainerStatus{exited(0), exited(0)}, now)
	if done[2].Reason != "PodCompleted" || done[3].Reason != "PodCompleted" || done[1].Status != corev1.ConditionTrue {
		t.Errorf("completed pod conditions: %+v", done)
	}
}

func TestNewerResourceVersion(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{{"10", "9", true}, {"99", "100", false}, {"5", "5", false}, {"7", "", true}, {"x", "1", false}} {
		if got := newer(tc.a, tc.b); got != tc.want {
			t.Errorf("newer(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}
