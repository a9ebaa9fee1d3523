package shim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/peapod-dev/peapod/internal/runtime/oci/runc"
)

// Cleanup releases what the shim of runDir held when the shim itself is gone (killed or crashed; its
// containers may still run, their exit codes are lost): it force-deletes the containers of its state file,
// kills a pause that still runs, unmounts the namespace files and /dev/shm, removes the pod's cgroup and
// the shim's files. A live shim is refused: ask it to Shutdown.
func Cleanup(ctx context.Context, runDir string) error {
	if _, err := NewClient(runDir).State(ctx); err == nil {
		return fmt.Errorf("clean up %s: its shim is alive", runDir)
	}
	cfg, err := readConfig(runDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil // nothing was started, or it is cleaned up already
	}
	if err != nil {
		return fmt.Errorf("clean up %s: %w", runDir, err)
	}
	s := &server{
		cfg: cfg, runDir: runDir, ctrs: map[string]*container{}, adopted: true,
		rt: &runc.Runtime{Binary: cfg.RuntimeBinary, Root: cfg.RuntimeRoot},
	}
	if st, err := ReadState(runDir); err == nil {
		s.sandbox = st.Sandbox
		for _, c := range st.Containers {
			s.ctrs[c.ID] = &container{state: c, dir: filepath.Join(runDir, ctrDir, c.ID), exited: make(chan struct{})}
		}
	}
	if !isPause(s.sandbox.PausePid) {
		s.sandbox.PauseExited = true // gone, and its pid may be someone else's by now
	}
	mounts, err := readMounts()
	if err != nil {
		return fmt.Errorf("clean up %s: %w", runDir, err)
	}
	for _, m := range mounts {
		for _, dir := range []string{filepath.Join(runDir, nsDir), filepath.Join(runDir, shmDir)} {
			if m.point == dir || strings.HasPrefix(m.point, dir+"/") {
				s.mounts = append(s.mounts, m.point)
			}
		}
	}
	if err := s.teardown(ctx); err != nil {
		return fmt.Errorf("clean up %s: %w", runDir, err)
	}
	return nil
}

func isPause(pid int) bool {
	if pid <= 0 {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && bytes.HasPrefix(cmdline, []byte(BinaryName+"\x00pause\x00"))
}
