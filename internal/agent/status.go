package agent

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// containerRecord is what the pod worker knows of one container of the pod: enough for its
// ContainerStatus.
type containerRecord struct {
	id      string // runtime container ID; empty until created
	image   string // the image as the runtime names it (docker.io/library/busybox:latest)
	imageID string // repo digest reference

	// waiting is the reason and message while the container is not running and has not run (or is about to
	// run again); empty reason once it runs.
	waitingReason, waitingMessage string

	running    bool
	exited     bool // the current instance's exit has been recorded
	startedAt  metav1.Time
	terminated *corev1.ContainerStateTerminated
	// lastTerminated is the previous instance's end, after a restart.
	lastTerminated *corev1.ContainerStateTerminated
	restartCount   int32

	// ids are every runtime container (and snapshot) created for this container, for teardown.
	ids []string
	// ended is the instance a restart replaced, freed once the new one has started.
	ended *endedInstance
	// terminationMessagePath is the host file behind the container's terminationMessagePath.
	terminationMessagePath string
	// crashDelay is the restart back-off last applied (-1: the immediate first restart); restartAt is
	// when the container may start again.
	crashDelay time.Duration
	restartAt  time.Time
}

// containerStatus renders a record as the kubelet reports it.
func containerStatus(c corev1.Container, r *containerRecord, containerIDPrefix string) corev1.ContainerStatus {
	st := corev1.ContainerStatus{Name: c.Name, Image: c.Image, RestartCount: r.restartCount}
	started := false
	st.Started = &started
	if r.image != "" {
		st.Image = r.image
	}
	st.ImageID = r.imageID
	if r.id != "" {
		st.ContainerID = containerIDPrefix + r.id
	}
	switch {
	case r.running:
		st.State.Running = &corev1.ContainerStateRunning{StartedAt: r.startedAt}
		started = true
		// Without a readiness probe a running container is ready; with one it stays unready until a probe
		// succeeds, and this agent does not run probes yet.
		st.Ready = c.ReadinessProbe == nil
	case r.terminated != nil && r.waitingReason == "":
		term := *r.terminated
		if term.ContainerID == "" && r.id != "" {
			term.ContainerID = st.ContainerID
		}
		st.State.Terminated = &term
	default:
		reason := r.waitingReason
		if reason == "" {
			reason = "ContainerCreating"
		}
		st.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: r.waitingMessage}
	}
	last := r.lastTerminated
	if st.State.Waiting != nil && r.terminated != nil {
		last = r.terminated // an ended instance waiting for its restart (a failed start) is the last state
	}
	if last != nil {
		copied := *last
		st.LastTerminationState.Terminated = &copied
	}
	return st
}

// podPhase is the kubelet's getPhase for the container statuses given.
func podPhase(spec *corev1.PodSpec, initStatuses, statuses []corev1.ContainerStatus) corev1.PodPhase {
	pendingInit, failedInit := 0, 0
	for i, c := range spec.InitContainers {
		if isSidecar(c) {
			st := initStatuses[i]
			if st.State.Running == nil || st.Started == nil || !*st.Started {
				if st.State.Waiting == nil || st.LastTerminationState.Terminated == nil {
					pendingInit++
				}
			}
			continue
		}
		st := initStatuses[i]
		switch {
		case st.State.Running != nil:
			pendingInit++
		case st.State.Terminated != nil:
			if st.State.Terminated.ExitCode != 0 {
				failedInit++
			}
		case st.State.Waiting != nil && st.LastTerminationState.Terminated != nil:
			if st.LastTerminationState.Terminated.ExitCode != 0 {
				failedInit++
			}
		default:
			pendingInit++
		}
	}
	running, waiting, stopped, succeeded := 0, 0, 0, 0
	for _, st := range statuses {
		switch {
		case st.State.Running != nil:
			running++
		case st.State.Terminated != nil:
			stopped++
			if st.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case st.State.Waiting != nil && st.LastTerminationState.Terminated != nil:
			stopped++
		default:
			waiting++
		}
	}
	if failedInit > 0 && spec.RestartPolicy == corev1.RestartPolicyNever {
		return corev1.PodFailed
	}
	anyStarted := running > 0 || stopped > 0
	switch {
	case pendingInit > 0 && !anyStarted, waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped > 0:
		if spec.RestartPolicy == corev1.RestartPolicyAlways {
			return corev1.PodRunning
		}
		if stopped == succeeded {
			return corev1.PodSucceeded
		}
		if spec.RestartPolicy == corev1.RestartPolicyNever {
			return corev1.PodFailed
		}
		return corev1.PodRunning
	default:
		return corev1.PodPending
	}
}

func isSidecar(c corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// podConditions are the kubelet's PodReadyToStartContainers, Initialized, Ready and ContainersReady, in
// the kubelet's order; PodScheduled is kept from the pod's current status. Transition times carry over
// from previous conditions of the same status.
func podConditions(pod *corev1.Pod, phase corev1.PodPhase, sandboxReady bool, initStatuses, statuses []corev1.ContainerStatus, now metav1.Time) []corev1.PodCondition {
	previous := map[corev1.PodConditionType]corev1.PodCondition{}
	for _, c := range pod.Status.Conditions {
		previous[c.Type] = c
	}
	condition := func(t corev1.PodConditionType, ok bool, reason, message string) corev1.PodCondition {
		c := corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, Reason: reason, Message: message, LastTransitionTime: now}
		if ok {
			c.Status, c.Reason, c.Message = corev1.ConditionTrue, "", ""
		}
		if p, found := previous[t]; found && p.Status == c.Status {
			c.LastTransitionTime = p.LastTransitionTime
		}
		return c
	}
	var conditions []corev1.PodCondition
	conditions = append(conditions, condition(corev1.PodReadyToStartContainers, sandboxReady, "", ""))

	var incomplete []string
	for i, c := range pod.Spec.InitContainers {
		st := initStatuses[i]
		done := st.State.Terminated != nil && st.State.Terminated.ExitCode == 0
		if isSidecar(c) {
			done = st.Started != nil && *st.Started
		}
		if !done {
			incomplete = append(incomplete, c.Name)
		}
	}
	initialized := len(incomplete) == 0
	if phase == corev1.PodSucceeded && !initialized {
		initialized = true // a completed pod's init containers all ran
	}
	conditions = append(conditions, condition(corev1.PodInitialized, initialized, "ContainersNotInitialized",
		fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(incomplete, " "))))

	var unready []string
	for _, st := range statuses {
		if !st.Ready {
			unready = append(unready, st.Name)
		}
	}
	ready := len(unready) == 0
	reason, message := "ContainersNotReady", fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
	switch phase {
	case corev1.PodSucceeded:
		ready, reason, message = false, "PodCompleted", ""
	case corev1.PodFailed:
		ready, reason, message = false, "PodFailed", ""
	}
	conditions = append(conditions, condition(corev1.PodReady, ready, reason, message))
	conditions = append(conditions, condition(corev1.ContainersReady, ready, reason, message))
	if p, ok := previous[corev1.PodScheduled]; ok {
		conditions = append(conditions, p)
	}
	return conditions
}
