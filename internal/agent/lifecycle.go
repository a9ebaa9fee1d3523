package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/peapod-dev/peapod/internal/crilog"
	"github.com/peapod-dev/peapod/internal/runtime/shim"
)

// The kubelet's container restart back-off: the first restart is immediate, then 10 s doubling to 300 s
// (or to Config.MaxContainerRestartPeriod); a container that ran for 10 minutes starts over.
const (
	crashBackoffInitial = 10 * time.Second
	crashBackoffMax     = 300 * time.Second
	crashBackoffReset   = 10 * time.Minute
	// The kubelet's FallbackToLogsOnError takes at most the last 80 lines and 2048 bytes of the log.
	fallbackLogLines = 80
	fallbackLogBytes = 2048
	// deadlineExceeded is the kubelet's reason and message for activeDeadlineSeconds.
	deadlineReason  = "DeadlineExceeded"
	deadlineMessage = "Pod was active on the node longer than the specified deadline"
)

// restartWanted applies the restart policy to a container's end.
func restartWanted(policy corev1.RestartPolicy, exitCode int32) bool {
	switch policy {
	case corev1.RestartPolicyAlways:
		return true
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	}
	return false
}

// dueForRestart handles an ended container under a restart policy that wants it back: it reports true
// when the back-off allows starting it again now (the record is then ready for a new instance), and
// otherwise shows CrashLoopBackOff and arranges to be woken when the back-off ends.
func (w *podWorker) dueForRestart(ctx context.Context, pod *corev1.Pod, c corev1.Container, r *containerRecord) bool {
	now := time.Now()
	if r.terminated != nil {
		// The instance just ended: it becomes the last state and the back-off is computed from its end.
		ran := r.terminated.FinishedAt.Sub(r.terminated.StartedAt.Time)
		r.crashDelay = nextCrashDelay(r.crashDelay, ran, w.a.cfg.MaxContainerRestartPeriod)
		r.restartAt = now
		if r.crashDelay > 0 {
			r.restartAt = r.terminated.FinishedAt.Add(r.crashDelay)
		}
		r.lastTerminated, r.terminated = r.terminated, nil
		r.running = false
	}
	if now.Before(r.restartAt) {
		if r.waitingReason != "CrashLoopBackOff" {
			r.waitingReason = "CrashLoopBackOff"
			r.waitingMessage = fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", r.crashDelay, c.Name, pod.Name, pod.Namespace, pod.UID)
			w.a.recorder.Eventf(pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)", c.Name, pod.Name, pod.Namespace, pod.UID)
		}
		w.wakeAt(r.restartAt)
		return false
	}
	// A new instance, the count goes up. The old one is freed once the new one has started (freeEnded), as
	// the kubelet leaves dead containers to its garbage collection: deleting it first made every restart
	// ~10 ms later.
	if r.id != "" {
		r.ended = &endedInstance{id: r.id, terminationMessagePath: r.terminationMessagePath}
		if r.restartCount > 0 { // the instance before the ended one: only the previous log is kept
			r.ended.olderLog = w.a.containerLogPath(pod, c.Name, int(r.restartCount)-1)
		}
	}
	r.id = ""
	r.restartCount++
	r.waitingReason, r.waitingMessage = "", ""
	return true
}

// endedInstance is a container instance a restart replaced, still to be freed.
type endedInstance struct {
	id                     string
	terminationMessagePath string // already read into the last state's message
	olderLog               string // the log of the instance before it, if any
}

// freeEnded frees what the instance a restart replaced held, as the kubelet's container garbage collection does
// for a dead container: the runtime's container, its root filesystem (an overlay mount), bundle and
// termination-message file, and the log of the instance before it (its own log stays, for --previous). Without
// this, every restart of a crash-looping container left a mount behind. An instance not freed when the agent
// stops is freed with the pod, which keeps its snapshot in ids.
func (w *podWorker) freeEnded(ctx context.Context, pod *corev1.Pod, c corev1.Container, r *containerRecord) {
	ended := r.ended
	if ended == nil {
		return
	}
	r.ended = nil
	// A container whose runtime create failed (StartError) never reached the shim: nothing to delete.
	if err := w.shim.DeleteContainer(ctx, ended.id, true); err != nil && !errors.Is(err, shim.ErrNotFound) {
		w.a.logger.Warn("remove ended container", "pod", pod.Name, "container", c.Name, "err", err)
		return
	}
	w.removeEndedFiles(ctx, pod, c, r, ended)
}

// removeEndedFiles frees the ended instance's root filesystem, bundle, termination-message file and the log
// before it, once the runtime has deleted the container.
func (w *podWorker) removeEndedFiles(ctx context.Context, pod *corev1.Pod, c corev1.Container, r *containerRecord, ended *endedInstance) {
	if err := w.a.snaps.Remove(ctx, ended.id, w.mountNS()); err != nil {
		w.a.logger.Warn("remove ended container's root filesystem", "pod", pod.Name, "container", c.Name, "err", err)
	} else {
		r.ids = slices.DeleteFunc(r.ids, func(s string) bool { return s == ended.id })
	}
	// The bundle's path as createContainer lays it out.
	if err := os.RemoveAll(filepath.Join(w.runDir, "bundles", ended.id)); err != nil {
		w.a.logger.Warn("remove ended container's bundle", "pod", pod.Name, "container", c.Name, "err", err)
	}
	if ended.terminationMessagePath != "" {
		_ = os.Remove(ended.terminationMessagePath)
	}
	if ended.olderLog != "" {
		_ = os.Remove(ended.olderLog)
	}
}

// nextCrashDelay is the back-off before restarting a container that ended after running for ran, given the
// delay before its previous restart (0: none yet; negative: that restart was immediate): immediate the
// first time and after a long run, then min(10 s, limit), doubling up to limit, as the kubelet's back-off
// does with crashLoopBackOff.maxContainerRestartPeriod.
func nextCrashDelay(prev, ran, limit time.Duration) time.Duration {
	switch {
	case prev == 0 || ran >= crashBackoffReset:
		return -1
	case prev < 0:
		return min(crashBackoffInitial, limit)
	}
	return min(2*prev, limit)
}

// wakeAt makes the worker sync again at t (a back-off's end), so that a restart is not late by a resync.
func (w *podWorker) wakeAt(t time.Time) {
	time.AfterFunc(time.Until(t), w.wake)
}

// fallbackMessage is the kubelet's FallbackToLogsOnError: the tail of the container's log when it failed
// without writing its termination message.
func fallbackMessage(ctx context.Context, logPath string) string {
	var buf bytes.Buffer
	lines := int64(fallbackLogLines)
	if err := crilog.Read(ctx, logPath, crilog.Options{TailLines: &lines}, &buf, &buf); err != nil {
		return ""
	}
	out := buf.Bytes()
	if len(out) > fallbackLogBytes {
		out = out[len(out)-fallbackLogBytes:]
	}
	return string(out)
}

// terminationMessage fills the message of an ended container from its termination log, or its log tail
// under FallbackToLogsOnError.
func (w *podWorker) terminationMessage(ctx context.Context, pod *corev1.Pod, c corev1.Container, r *containerRecord) {
	t := r.terminated
	if t == nil || t.Message != "" {
		return
	}
	if r.terminationMessagePath != "" {
		if data, err := os.ReadFile(r.terminationMessagePath); err == nil && len(data) > 0 {
			t.Message = string(data[:min(len(data), 4096)])
			return
		}
	}
	if c.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError && t.ExitCode != 0 {
		t.Message = fallbackMessage(ctx, w.a.containerLogPath(pod, c.Name, int(r.restartCount)))
	}
}

// deadlineExceeded reports whether the pod ran past activeDeadlineSeconds.
func (w *podWorker) deadlineExceeded(pod *corev1.Pod) bool {
	if pod.Spec.ActiveDeadlineSeconds == nil || w.startTime == nil {
		return false
	}
	deadline := w.startTime.Add(time.Duration(*pod.Spec.ActiveDeadlineSeconds) * time.Second)
	if time.Now().Before(deadline) {
		w.wakeAt(deadline)
		return false
	}
	return true
}

// failForDeadline stops the pod's containers and fails it with the kubelet's DeadlineExceeded.
func (w *podWorker) failForDeadline(ctx context.Context, pod *corev1.Pod) {
	w.a.recorder.Event(pod, corev1.EventTypeWarning, deadlineReason, deadlineMessage)
	w.stopContainers(ctx, pod, gracePeriod(pod))
	w.failure = &podFailure{reason: deadlineReason, message: deadlineMessage}
}

// podFailure is a pod the agent failed itself, with the status reason and message to report.
type podFailure struct{ reason, message string }

// gracePeriod is the pod's termination grace: the deletion's, else the spec's.
func gracePeriod(pod *corev1.Pod) int64 {
	if pod.DeletionGracePeriodSeconds != nil {
		return *pod.DeletionGracePeriodSeconds
	}
	return ptr.Deref(pod.Spec.TerminationGracePeriodSeconds, corev1.DefaultTerminationGracePeriodSeconds)
}

// stopContainers sends SIGTERM to every running container, waits up to grace seconds and kills what is
// left, with the kubelet's Killing events.
func (w *podWorker) stopContainers(ctx context.Context, pod *corev1.Pod, grace int64) {
	_ = w.refresh(ctx)
	var running []*containerRecord
	for _, set := range []struct {
		containers []corev1.Container
		records    map[string]*containerRecord
	}{{pod.Spec.Containers, w.app}, {pod.Spec.InitContainers, w.init}} {
		for _, c := range set.containers {
			if r := set.records[c.Name]; r != nil && r.running {
				w.a.recorder.Eventf(pod, corev1.EventTypeNormal, "Killing", "Stopping container %s", c.Name)
				if err := w.shim.KillContainer(ctx, r.id, syscall.SIGTERM, false); err != nil {
					w.a.logger.Warn("stop container", "pod", pod.Name, "container", c.Name, "err", err)
				}
				running = append(running, r)
			}
		}
	}
	deadline := time.Now().Add(time.Duration(grace) * time.Second)
	for len(running) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
		_ = w.refresh(ctx)
		still := running[:0]
		for _, r := range running {
			if r.running {
				still = append(still, r)
			}
		}
		running = still
	}
	for _, r := range running {
		_ = w.shim.KillContainer(ctx, r.id, syscall.SIGKILL, true)
	}
	if len(running) > 0 {
		for range 40 { // the kill is immediate; wait for the shim to record the exits
			if _ = w.refresh(ctx); !anyRunning(running) {
				break
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
}

func anyRunning(records []*containerRecord) bool {
	for _, r := range records {
		if r.running {
			return true
		}
	}
	return false
}
