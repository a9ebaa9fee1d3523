package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/peapod-dev/peapod/internal/runtime/shim"
)

// workerStateFile keeps, in the pod directory, what a restarted agent needs to take the pod over: which
// runtime containers belong to which container of the spec, and the restart bookkeeping. The shim keeps
// the rest (states, exit codes, times).
const workerStateFile = "agent-state.json"

type workerState struct {
	PodIP     string                  `json:"podIP,omitempty"`
	NetNSPath string                  `json:"netnsPath,omitempty"`
	StartTime *metav1.Time            `json:"startTime,omitempty"`
	Init      map[string]*recordState `json:"init,omitempty"`
	App       map[string]*recordState `json:"app,omitempty"`
}

type recordState struct {
	ID             string                           `json:"id,omitempty"`
	IDs            []string                         `json:"ids,omitempty"`
	Image          string                           `json:"image,omitempty"`
	ImageID        string                           `json:"imageID,omitempty"`
	RestartCount   int32                            `json:"restartCount,omitempty"`
	Exited         bool                             `json:"exited,omitempty"`
	Terminated     *corev1.ContainerStateTerminated `json:"terminated,omitempty"`
	LastTerminated *corev1.ContainerStateTerminated `json:"lastTerminated,omitempty"`
	CrashDelay     time.Duration                    `json:"crashDelay,omitempty"`
	RestartAt      time.Time                        `json:"restartAt,omitzero"`
	Waiting        string                           `json:"waiting,omitempty"`
	WaitingMessage string                           `json:"waitingMessage,omitempty"`
	MessagePath    string                           `json:"terminationMessagePath,omitempty"`
}

func toState(records map[string]*containerRecord) map[string]*recordState {
	out := map[string]*recordState{}
	for name, r := range records {
		out[name] = &recordState{
			ID: r.id, IDs: r.ids, Image: r.image, ImageID: r.imageID, RestartCount: r.restartCount, Exited: r.exited,
			Terminated: r.terminated, LastTerminated: r.lastTerminated, CrashDelay: r.crashDelay, RestartAt: r.restartAt,
			Waiting: r.waitingReason, WaitingMessage: r.waitingMessage, MessagePath: r.terminationMessagePath,
		}
	}
	return out
}

func fromState(states map[string]*recordState) map[string]*containerRecord {
	out := map[string]*containerRecord{}
	for name, s := range states {
		out[name] = &containerRecord{
			id: s.ID, ids: s.IDs, image: s.Image, imageID: s.ImageID, restartCount: s.RestartCount, exited: s.Exited,
			terminated: s.Terminated, lastTerminated: s.LastTerminated, crashDelay: s.CrashDelay, restartAt: s.RestartAt,
			waitingReason: s.Waiting, waitingMessage: s.WaitingMessage, terminationMessagePath: s.MessagePath,
		}
	}
	return out
}

// saveState writes the worker's state when it changed since the last save.
func (w *podWorker) saveState() error {
	if w.released || w.shim == nil {
		return nil
	}
	data, err := json.Marshal(workerState{PodIP: w.podIP, NetNSPath: w.netnsPath, StartTime: w.startTime, Init: toState(w.init), App: toState(w.app)})
	if err != nil {
		return err
	}
	if bytes.Equal(data, w.saved) {
		return nil
	}
	tmp := filepath.Join(w.dir, workerStateFile+".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("save pod state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(w.dir, workerStateFile)); err != nil {
		return fmt.Errorf("save pod state: %w", err)
	}
	w.saved = data
	return nil
}

// adopt takes over a pod that a previous run of the agent started: when its shim still answers, the
// sandbox and containers are kept as they are (same IDs, start times and restart counts), and a container
// that ended meanwhile is seen with its real exit code. A sandbox whose shim is gone is cleaned up, and
// the pod starts afresh.
func (w *podWorker) adopt(ctx context.Context) {
	data, err := os.ReadFile(filepath.Join(w.dir, workerStateFile))
	if err != nil {
		return
	}
	var st workerState
	if err := json.Unmarshal(data, &st); err != nil {
		w.a.logger.Warn("unreadable pod state; starting the pod afresh", "dir", w.dir, "err", err)
		return
	}
	client := shim.NewClient(w.runDir)
	sandbox, err := client.State(ctx)
	if err != nil {
		if cerr := shim.Cleanup(ctx, w.runDir); cerr != nil {
			w.a.logger.Warn("clean up a dead sandbox", "dir", w.runDir, "err", cerr)
		}
		return
	}
	w.shim, w.sandboxReady, w.podIP, w.netnsPath, w.startTime = client, true, st.PodIP, st.NetNSPath, st.StartTime
	w.shimPid = sandbox.Sandbox.ShimPid
	w.init, w.app = fromState(st.Init), fromState(st.App)
	w.saved = data
	for _, records := range []map[string]*containerRecord{w.init, w.app} {
		for _, r := range records {
			if r.id != "" && !r.exited {
				w.watchExit(ctx, r.id)
			}
		}
	}
}

// cleanUpOrphans tears down pods found on disk that the API server no longer has for this node (deleted
// while the agent was down): their shims, root filesystems, network and directories.
func (a *Agent) cleanUpOrphans(ctx context.Context, live map[types.UID]bool) {
	entries, err := os.ReadDir(filepath.Join(a.cfg.DataDir, "pods"))
	if err != nil {
		return
	}
	var liveIDs []string
	for uid := range live {
		liveIDs = append(liveIDs, string(uid))
	}
	for _, e := range entries {
		uid := types.UID(e.Name())
		a.mu.Lock()
		_, running := a.workers[uid]
		a.mu.Unlock()
		if live[uid] || running {
			continue
		}
		w := newPodWorker(a, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: uid}})
		w.adopt(ctx)
		orphan := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: uid}}
		if err := w.teardown(ctx, orphan); err != nil {
			a.logger.Warn("tear down a pod deleted while the agent was away", "uid", uid, "err", err)
		} else {
			a.logger.Info("tore down a pod deleted while the agent was away", "uid", uid)
		}
	}
	if err := a.net.Reconcile(ctx, liveIDs); err != nil {
		a.logger.Warn("reconcile pod network", "err", err)
	}
}
