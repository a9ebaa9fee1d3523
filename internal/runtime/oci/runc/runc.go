// Package runc drives an OCI runtime command line (runc or crun): create, start, state, kill, delete and
// list, with the runtime's own error text surfaced in the returned errors.
//
// It imports only the standard library so that the small per-pod monitor binary can use it without the
// weight of the rest of peapod.
package runc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Runtime is one OCI runtime binary with its state directory. The zero value is not usable: Binary and Root
// are required.
type Runtime struct {
	// Binary is the runtime executable, e.g. /usr/sbin/runc or /usr/bin/crun.
	Binary string
	// Root is the runtime's state directory (--root). Containers of one node share it.
	Root string
	// LogDir holds one JSON log per container (--log, --log-format json); the runtime writes its error text
	// there, which Error carries. Empty means Root + "/log".
	LogDir string
}

// Error is a failed runtime invocation; Message is the runtime's own text (what the agent shows as
// CreateContainerError or RunContainerError).
type Error struct {
	Op       string
	ID       string
	ExitCode int
	Message  string
	// NotExist is set when the runtime has no state for the container.
	NotExist bool
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s: %s", e.Op, e.ID, e.Message)
}

// ErrNotExist matches errors about a container the runtime does not know.
var ErrNotExist = errors.New("container does not exist")

// Is makes errors.Is(err, ErrNotExist) true for a container the runtime does not know.
func (e *Error) Is(target error) bool { return target == ErrNotExist && e.NotExist }

// CreateOptions are the per-container settings of Create.
type CreateOptions struct {
	// Bundle is the directory holding config.json.
	Bundle string
	// PidFile receives the container init's host PID.
	PidFile string
	// ConsoleSocket is a unix socket on which the runtime sends the pty master (terminal containers).
	ConsoleSocket string
	// Stdin, Stdout and Stderr become the container's stdio (ignored by the runtime with a terminal).
	Stdin, Stdout, Stderr *os.File
	// Started, when set, is called with the runtime process right after it starts, before Create waits
	// for it; a caller that reaps children itself uses it to recognise the process.
	Started func(*os.Process)
}

// State is the runtime's view of one container (the OCI state plus runc's extras).
type State struct {
	ID      string            `json:"id"`
	Pid     int               `json:"pid"`
	Status  string            `json:"status"`
	Bundle  string            `json:"bundle"`
	Created time.Time         `json:"created"`
	Labels  map[string]string `json:"annotations,omitempty"`
}

func (r *Runtime) logPath(id string) string {
	dir := r.LogDir
	if dir == "" {
		dir = filepath.Join(r.Root, "log")
	}
	return filepath.Join(dir, id+".json")
}

func (r *Runtime) globalArgs(id string) []string {
	return []string{"--root", r.Root, "--log", r.logPath(id), "--log-format", "json"}
}

// Create runs `runtime create`: the container's process exists, stopped before the user's program.
func (r *Runtime) Create(ctx context.Context, id string, o CreateOptions) error {
	if err := os.MkdirAll(filepath.Dir(r.logPath(id)), 0o700); err != nil {
		return fmt.Errorf("create %s: runtime log dir: %w", id, err)
	}
	args := []string{"create", "--bundle", o.Bundle}
	if o.PidFile != "" {
		args = append(args, "--pid-file", o.PidFile)
	}
	if o.ConsoleSocket != "" {
		args = append(args, "--console-socket", o.ConsoleSocket)
	}
	args = append(args, id)
	logStart := r.logSize(id)
	cmd := r.command(ctx, id, args...)
	// Files, never buffers: the container inherits the runtime's stdio, and a pipe that os/exec drains
	// would keep Wait blocked for the container's life. The error text comes from the runtime's log.
	// Unset streams are /dev/null (and never typed nil *os.File values, which os/exec passes as fd -1).
	if o.Stdin != nil {
		cmd.Stdin = o.Stdin
	}
	if o.Stdout != nil {
		cmd.Stdout = o.Stdout
	}
	if o.Stderr != nil {
		cmd.Stderr = o.Stderr
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("create %s: %w", id, err)
	}
	if o.Started != nil {
		o.Started(cmd.Process)
	}
	return r.wrap("create", id, cmd.Wait(), logStart, nil)
}

// Start runs the user's program of a created container.
func (r *Runtime) Start(ctx context.Context, id string) error {
	_, err := r.run(ctx, "start", id, "start", id)
	return err
}

// State returns the runtime's state of a container.
func (r *Runtime) State(ctx context.Context, id string) (*State, error) {
	out, err := r.run(ctx, "state", id, "state", id)
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(out, &s); err != nil {
		return nil, fmt.Errorf("state %s: decode %q: %w", id, out, err)
	}
	return &s, nil
}

// Kill sends sig to the container's init (all its processes with all, as `kill --all`).
func (r *Runtime) Kill(ctx context.Context, id string, sig syscall.Signal, all bool) error {
	args := []string{"kill"}
	if all {
		args = append(args, "--all")
	}
	args = append(args, id, strconv.Itoa(int(sig)))
	_, err := r.run(ctx, "kill", id, args...)
	return err
}

// Delete removes the container's runtime state and cgroup; with force it first kills a running container.
// Deleting a container the runtime does not know is not an error. The container's runtime log goes too.
func (r *Runtime) Delete(ctx context.Context, id string, force bool) error {
	args := []string{"delete"}
	if force {
		args = append(args, "--force")
	}
	args = append(args, id)
	if _, err := r.run(ctx, "delete", id, args...); err != nil && !errors.Is(err, ErrNotExist) {
		return err
	}
	if err := os.Remove(r.logPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", id, err)
	}
	return nil
}

// List returns every container in the runtime's root.
func (r *Runtime) List(ctx context.Context) ([]State, error) {
	out, err := r.run(ctx, "list", "", "list", "--format", "json")
	if err != nil {
		return nil, err
	}
	var states []State
	if len(bytes.TrimSpace(out)) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(out, &states); err != nil {
		return nil, fmt.Errorf("list: decode %q: %w", out, err)
	}
	return states, nil
}

func (r *Runtime) command(ctx context.Context, id string, args ...string) *exec.Cmd {
	if id == "" {
		id = "runtime"
	}
	cmd := exec.CommandContext(ctx, r.Binary, append(r.globalArgs(id), args...)...)
	// runc is a Go program that lives for milliseconds: one thread and no collector spare it an eighth of its
	// CPU, which counts when a node starts a hundred pods at once (crun, in C, ignores both).
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1", "GOGC=off")
	return cmd
}

func (r *Runtime) run(ctx context.Context, op, id string, args ...string) ([]byte, error) {
	logStart := r.logSize(id)
	cmd := r.command(ctx, id, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.Bytes(), r.wrap(op, id, err, logStart, stderr.Bytes())
}

// logSize is where this invocation's entries will start in the container's runtime log: earlier entries
// belong to earlier invocations.
func (r *Runtime) logSize(id string) int64 {
	fi, err := os.Stat(r.logPath(orDefault(id)))
	if err != nil {
		return 0
	}
	return fi.Size()
}

// wrap turns a failed run into an Error with the runtime's last logged error message, or its stderr.
func (r *Runtime) wrap(op, id string, err error, logStart int64, stderr []byte) error {
	if err == nil {
		return nil
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return fmt.Errorf("%s %s: %w", op, id, err)
	}
	msg := lastLoggedError(r.logPath(orDefault(id)), logStart)
	if msg == "" {
		msg = strings.TrimSpace(string(stderr))
	}
	if msg == "" {
		msg = exit.Error()
	}
	e := &Error{Op: op, ID: id, ExitCode: exit.ExitCode(), Message: msg}
	if id != "" && op != "create" {
		// runc and crun both keep a container's state in Root/<id>; their messages for a missing one differ.
		_, err := os.Stat(filepath.Join(r.Root, id))
		e.NotExist = errors.Is(err, os.ErrNotExist)
	}
	return e
}

func orDefault(id string) string {
	if id == "" {
		return "runtime"
	}
	return id
}

// lastLoggedError reads the runtime's JSON log from offset and returns the message of its last error entry.
func lastLoggedError(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	var msg string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		var e struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal(sc.Bytes(), &e) == nil && (e.Level == "error" || e.Level == "fatal") {
			msg = e.Msg
		}
	}
	return msg
}
