package shim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// BinaryName is the executable of the shim and pause, installed next to peapod.
const BinaryName = "peapod-shim"

// FindBinary returns the peapod-shim next to the running executable, else the one on $PATH.
func FindBinary() (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), BinaryName)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath(BinaryName)
	if err != nil {
		return "", fmt.Errorf("find %s next to the executable or on PATH: %w", BinaryName, err)
	}
	return p, nil
}

// Start launches the shim of a new sandbox from binary and returns its client once the pause runs with the
// pod's hostname and the shim's socket accepts requests. The shim runs in its own session, so it (and the
// pod) outlives the caller.
func Start(ctx context.Context, binary string, cfg SandboxConfig) (*Client, error) {
	if cfg.RunDir == "" || cfg.ID == "" {
		return nil, fmt.Errorf("start shim: sandbox id and run dir are required")
	}
	if _, err := NewClient(cfg.RunDir).State(ctx); err == nil {
		// An agent that lost track of a pod must adopt its shim, not start a second one over it.
		return nil, fmt.Errorf("start shim %s: a shim already serves %s", cfg.ID, cfg.RunDir)
	}
	if err := os.MkdirAll(cfg.RunDir, 0o700); err != nil {
		return nil, fmt.Errorf("start shim %s: %w", cfg.ID, err)
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("start shim %s: %w", cfg.ID, err)
	}
	if err := writeFileAtomic(filepath.Join(cfg.RunDir, configFile), data); err != nil {
		return nil, fmt.Errorf("start shim %s: %w", cfg.ID, err)
	}
	logf, err := os.OpenFile(filepath.Join(cfg.RunDir, logFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("start shim %s: %w", cfg.ID, err)
	}
	defer logf.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start shim %s: %w", cfg.ID, err)
	}
	defer r.Close()
	// Not CommandContext: the shim must outlive ctx; ctx only bounds the wait for readiness.
	cmd := exec.Command(binary, "serve", cfg.RunDir)
	cmd.Stdout, cmd.Stderr = logf, logf
	// One P is plenty for a process that mostly waits, and every extra P costs memory in every pod.
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	cmd.ExtraFiles = []*os.File{w}
	// Its own mount namespace (Go makes the copy private: no mount propagates either way), see SandboxConfig.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Unshareflags: syscall.CLONE_NEWNS}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return nil, fmt.Errorf("start shim %s: %w", cfg.ID, err)
	}
	// Reaped here while the caller lives; after it dies the shim's parent is init.
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()

	type result struct {
		msg string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(io.LimitReader(r, 64*1024))
		ch <- result{string(b), err}
	}()
	select {
	case res := <-ch:
		if res.err == nil && res.msg == "ok\n" {
			return NewClient(cfg.RunDir), nil
		}
		msg := strings.TrimSpace(res.msg)
		if msg == "" {
			msg = "exited before it was ready"
		}
		<-exited
		return nil, fmt.Errorf("start shim %s: %w", cfg.ID, errors.New(msg))
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-exited
		return nil, fmt.Errorf("start shim %s: %w", cfg.ID, ctx.Err())
	}
}
