package agent

import (
	"errors"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/peapod-dev/peapod/internal/runtime/snapshot"
)

func TestCrashBackoffSequence(t *testing.T) {
	s := time.Second
	tests := []struct {
		name  string
		limit time.Duration
		want  []time.Duration // the delays before the 1st, 2nd, ... restart of a container that crashes at once
	}{
		{"kubelet default", 300 * s, []time.Duration{0, 10 * s, 20 * s, 40 * s, 80 * s, 160 * s, 300 * s, 300 * s}},
		{"cap between steps", 60 * s, []time.Duration{0, 10 * s, 20 * s, 40 * s, 60 * s, 60 * s}},
		{"cap at the initial delay", 10 * s, []time.Duration{0, 10 * s, 10 * s, 10 * s}},
		{"cap below the initial delay", 5 * s, []time.Duration{0, 5 * s, 5 * s, 5 * s}},
		{"shortest cap", 1 * s, []time.Duration{0, 1 * s, 1 * s, 1 * s}},
		{"cap not a power of two of the start", 7500 * time.Millisecond, []time.Duration{0, 7500 * time.Millisecond, 7500 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var delay time.Duration
			for i, want := range tt.want {
				delay = nextCrashDelay(delay, time.Second, tt.limit)
				// Negative means "at once": the caller restarts without waiting.
				if got := max(delay, 0); got != want {
					t.Fatalf("restart %d: delay %v, want %v (sequence %v)", i+1, got, want, tt.want)
				}
			}
		})
	}
}

func TestCrashBackoffReset(t *testing.T) {
	tests := []struct {
		name string
		prev time.Duration
		ran  time.Duration
		want time.Duration
	}{
		{"ran 10 minutes: at once again", 300 * time.Second, crashBackoffReset, -1},
		{"ran just under 10 minutes: keeps doubling", 40 * time.Second, crashBackoffReset - time.Second, 60 * time.Second},
		{"reset from the capped delay", 60 * time.Second, time.Hour, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextCrashDelay(tt.prev, tt.ran, 60*time.Second); got != tt.want {
				t.Errorf("nextCrashDelay(%v, %v, 60s) = %v, want %v", tt.prev, tt.ran, got, tt.want)
			}
		})
	}
}

func TestWithDefaultsMaxContainerRestartPeriod(t *testing.T) {
	tests := []struct {
		in, want time.Duration
		wantErr  bool
	}{
		{in: 0, want: 300 * time.Second},
		{in: time.Second, want: time.Second},
		{in: 300 * time.Second, want: 300 * time.Second},
		{in: 999 * time.Millisecond, wantErr: true},
		{in: 301 * time.Second, wantErr: true},
		{in: -time.Second, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in.String(), func(t *testing.T) {
			cfg, err := WithDefaults(Config{NodeName: "n", NodeIPs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}, MaxContainerRestartPeriod: tt.in})
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "must be set between 1s and 300s") {
					t.Fatalf("WithDefaults(%v): err %v, want the kubelet's range error", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.MaxContainerRestartPeriod != tt.want {
				t.Errorf("WithDefaults(%v) = %v, want %v", tt.in, cfg.MaxContainerRestartPeriod, tt.want)
			}
		})
	}
}

// A restart frees what the ended instance held: without it every restart of a crash-looping container left
// its root filesystem (an overlay mount), bundle, termination-message file and log behind until the pod went.
func TestRemoveEndedFreesTheInstance(t *testing.T) {
	tmp := t.TempDir()
	snaps, err := snapshot.New(filepath.Join(tmp, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	a := &Agent{cfg: Config{DataDir: tmp}, snaps: snaps, logger: slog.New(slog.DiscardHandler)}
	w := &podWorker{a: a, runDir: filepath.Join(tmp, "run")}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "uid"}}
	c := corev1.Container{Name: "c"}
	const older, ended = "older", "ended"
	termLog := filepath.Join(tmp, "termination-log-2")
	r := &containerRecord{ids: []string{older, ended}, restartCount: 3}
	instance := &endedInstance{id: ended, terminationMessagePath: termLog, olderLog: a.containerLogPath(pod, c.Name, 1)}
	mkdir := func(path string) string {
		if err := os.MkdirAll(path, 0o755); err != nil {
			t.Fatal(err)
		}
		return path
	}
	touch := func(path string) string {
		mkdir(filepath.Dir(path))
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	gone := []string{
		mkdir(filepath.Join(tmp, "snapshots", ended, "rootfs")),
		touch(filepath.Join(w.runDir, "bundles", ended, "config.json")),
		touch(termLog),
		touch(a.containerLogPath(pod, c.Name, 1)), // the one before the previous
	}
	kept := []string{
		mkdir(filepath.Join(tmp, "snapshots", older, "rootfs")), // not this restart's to free
		touch(a.containerLogPath(pod, c.Name, 2)),               // the ended instance's: --previous reads it
	}

	w.removeEndedFiles(t.Context(), pod, c, r, instance)

	for _, p := range gone {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: still there (%v)", p, err)
		}
	}
	for _, p := range kept {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v, want it kept", p, err)
		}
	}
	if !slices.Equal(r.ids, []string{older}) {
		t.Errorf("ids %v, want [%s]: the freed snapshot must not be removed again at teardown", r.ids, older)
	}
}

// A restart hands the ended instance over to be freed after the new one starts, instead of deleting it first
// (the shim is nil here: a delete would panic).
func TestDueForRestartDefersFreeingTheEndedInstance(t *testing.T) {
	a := &Agent{cfg: Config{DataDir: t.TempDir(), MaxContainerRestartPeriod: 300 * time.Second}}
	w := &podWorker{a: a}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "uid"}}
	c := corev1.Container{Name: "c"}
	ended := time.Now().Add(-time.Second)
	r := &containerRecord{id: "first", restartCount: 1, terminationMessagePath: "/t/termination-log-1",
		terminated: &corev1.ContainerStateTerminated{ExitCode: 1, StartedAt: metav1.NewTime(ended), FinishedAt: metav1.NewTime(ended)}}
	if !w.dueForRestart(t.Context(), pod, c, r) {
		t.Fatal("the first restart is immediate")
	}
	want := &endedInstance{id: "first", terminationMessagePath: "/t/termination-log-1", olderLog: a.containerLogPath(pod, c.Name, 0)}
	if r.ended == nil || *r.ended != *want {
		t.Errorf("ended %+v, want %+v", r.ended, want)
	}
	if r.id != "" || r.restartCount != 2 {
		t.Errorf("id %q restartCount %d, want a new instance numbered 2", r.id, r.restartCount)
	}
}
