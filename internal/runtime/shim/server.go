package shim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/peapod-dev/peapod/internal/runtime/oci/runc"
)

// requestTimeout bounds one request, runtime calls included.
const requestTimeout = 2 * time.Minute

type server struct {
	cfg    *SandboxConfig
	rt     *runc.Runtime
	self   string
	runDir string
	// adopted is a Cleanup of a dead shim's pod: none of the processes are children to reap.
	adopted bool

	mu      sync.Mutex // guards sandbox, ctrs and the container states; held while writing the state file
	sandbox SandboxState
	ctrs    map[string]*container
	orphans []int    // pids of deleted containers not reaped yet
	mounts  []string // /dev/shm (and namespace files of older shims), unmounted at shutdown
	// pauseHeld is read-held by creates, which join the pause's namespaces by /proc/<pid>/ns: the pause stays
	// an unreaped child meanwhile, so that its pid cannot be reused under a container being created.
	pauseHeld sync.RWMutex
}

type container struct {
	op     sync.Mutex // serializes runtime operations on this container
	state  ContainerState
	dir    string
	stdin  io.Closer
	exited chan struct{} // closed when the exit is recorded
	log    *criLog
	// memoryCgroup is the container's memory cgroup directory, read for OOM kills when it exits.
	memoryCgroup string
}

// Serve runs the shim of the sandbox configured in runDir until a shutdown request or SIGTERM. self is
// the peapod-shim executable, run again as the pause. Once the pause runs and the socket accepts requests,
// "ok\n" (or the error that stopped the start) is written to ready, which is then closed.
func Serve(ctx context.Context, self, runDir string, ready io.WriteCloser) error {
	err := serve(ctx, self, runDir, ready)
	if err != nil && ready != nil {
		fmt.Fprintf(ready, "%v\n", err)
		_ = ready.Close()
	}
	return err
}

func serve(ctx context.Context, self, runDir string, ready io.WriteCloser) error {
	// The Go runtime has read it; the OCI runtime (runc is Go too) should not inherit a single P.
	_ = os.Unsetenv("GOMAXPROCS")
	cfg, err := readConfig(runDir)
	if err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become child subreaper: %w", err)
	}
	// SIGHUP and SIGINT (a terminal going away, a stray ^C) are caught and dropped rather than ignored:
	// an ignored signal would stay ignored in the runtime and the containers it executes.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGCHLD, unix.SIGTERM, unix.SIGHUP, unix.SIGINT)

	s := &server{
		cfg: cfg, self: self, runDir: runDir, ctrs: map[string]*container{},
		rt: &runc.Runtime{Binary: cfg.RuntimeBinary, Root: cfg.RuntimeRoot},
	}
	if err := s.startSandbox(); err != nil {
		_ = s.teardown(ctx)
		return err
	}
	_ = os.Remove(SocketPath(runDir))
	ln, err := net.Listen("unix", SocketPath(runDir))
	if err != nil {
		_ = s.teardown(ctx)
		return fmt.Errorf("listen: %w", err)
	}
	s.mu.Lock()
	err = s.persistLocked()
	s.mu.Unlock()
	if err != nil {
		_ = s.teardown(ctx)
		return err
	}
	if ready != nil {
		_, _ = io.WriteString(ready, "ok\n")
		_ = ready.Close()
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	var once sync.Once
	go s.accept(ctx, ln, func() { once.Do(func() { close(done) }) })
	for {
		select {
		case sig := <-sigs:
			switch sig {
			case unix.SIGCHLD:
				s.reap()
			case unix.SIGTERM:
				return s.teardown(ctx)
			}
		case <-done:
			return nil
		}
	}
}

func (s *server) accept(ctx context.Context, ln net.Listener, exit func()) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			if s.handle(ctx, conn) {
				_ = ln.Close()
				exit()
			}
		}()
	}
}

// handle answers one request; it reports whether the shim is to exit.
func (s *server) handle(ctx context.Context, conn net.Conn) (exit bool) {
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var req Request
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &req)
	}
	resp := &Response{Version: ProtocolVersion}
	switch {
	case err != nil:
		resp.Error = fmt.Sprintf("bad request: %v", err)
	case req.Version != ProtocolVersion:
		resp.Error = fmt.Sprintf("unsupported protocol version %d (this shim speaks %d)", req.Version, ProtocolVersion)
	default:
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		if req.Op != OpWait {
			ctx, cancel = context.WithTimeout(ctx, requestTimeout)
			defer cancel()
		}
		go func() {
			// The client sends nothing after its request: a read returns when it hangs up (or when
			// handle closes the connection), and nobody is left to answer.
			_ = conn.SetReadDeadline(time.Time{})
			var b [1]byte
			_, _ = conn.Read(b[:])
			cancel()
		}()
		resp.State, err = s.do(ctx, &req)
		if err != nil {
			resp.Error = err.Error()
			resp.NotFound = errors.Is(err, errNoContainer)
		}
	}
	data, _ := json.Marshal(resp)
	_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, _ = conn.Write(append(data, '\n'))
	return req.Op == OpShutdown && resp.Error == ""
}

var errNoContainer = errors.New("no such container")

func (s *server) do(ctx context.Context, req *Request) (*State, error) {
	switch req.Op {
	case OpState:
		return s.state(), nil
	case OpCreate:
		if req.Create == nil {
			return nil, fmt.Errorf("create %s: no create arguments", req.ID)
		}
		return nil, s.create(ctx, req.ID, req.Create)
	case OpStart:
		return nil, s.start(ctx, req.ID)
	case OpKill:
		return nil, s.kill(ctx, req.ID, syscall.Signal(req.Signal), req.All)
	case OpDelete:
		return nil, s.delete(ctx, req.ID, req.Force)
	case OpWait:
		return s.wait(ctx, req.ID)
	case OpReopen:
		c, err := s.lookup(req.ID)
		if err != nil {
			return nil, err
		}
		return nil, c.log.reopen()
	case OpShutdown:
		return nil, s.teardown(ctx)
	}
	return nil, fmt.Errorf("unknown operation %q", req.Op)
}

func (s *server) state() *State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stateLocked()
}

func (s *server) stateLocked() *State {
	st := &State{Sandbox: s.sandbox, Containers: []ContainerState{}}
	for _, c := range s.ctrs {
		if c.state.Status != "" {
			st.Containers = append(st.Containers, c.state)
		}
	}
	return st
}

func (s *server) persistLocked() error {
	data, err := json.Marshal(s.stateLocked())
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(s.runDir, stateFile), data); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// startSandbox mounts the pod's /dev/shm and starts the pause in the pod's namespaces.
func (s *server) startSandbox() error {
	cfg := s.cfg
	s.sandbox = SandboxState{ID: cfg.ID, ShimPid: os.Getpid(), Created: time.Now(), Namespaces: map[string]string{}}
	// The network namespace is opened before the foreign mounts go, as its file may be among them; the pause
	// holds it from then on, and the containers join it through the pause.
	netns := -1
	if cfg.NetNSPath != "" && !cfg.HostNetwork {
		fd, err := unix.Open(cfg.NetNSPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("sandbox: open netns: %w", err)
		}
		defer unix.Close(fd)
		netns = fd
	}
	if err := detachForeignMounts(cfg.DetachMountsUnder, cfg.KeepMounts); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	if cfg.HostIPC {
		s.sandbox.ShmPath = "/dev/shm"
	} else {
		shm := filepath.Join(s.runDir, shmDir)
		if err := os.MkdirAll(shm, 0o755); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		if err := unix.Mount("shm", shm, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=65536k"); err != nil {
			return fmt.Errorf("sandbox: mount /dev/shm: %w", err)
		}
		s.mounts = append(s.mounts, shm)
		s.sandbox.ShmPath = shm
	}

	var flags uintptr
	var kinds []string // namespace kinds, as /proc/<pid>/ns names them
	hostname := ""
	if !cfg.HostNetwork {
		flags |= unix.CLONE_NEWUTS
		kinds = append(kinds, "uts")
		hostname = cfg.Hostname
	}
	if !cfg.HostIPC {
		flags |= unix.CLONE_NEWIPC
		kinds = append(kinds, "ipc")
	}
	if cfg.SharePID && !cfg.HostPID {
		flags |= unix.CLONE_NEWPID
		kinds = append(kinds, "pid")
	}
	pid, err := s.startPause(flags, hostname, netns)
	if err != nil {
		return err
	}
	s.sandbox.PausePid = pid
	if netns >= 0 {
		s.sandbox.Namespaces["network"] = fmt.Sprintf("/proc/%d/ns/net", pid)
	}
	// Containers join the pause's namespaces through /proc, as containerd's sandboxes do, not through bind
	// mounts: the pause lives as long as the sandbox, and every mount on the host lengthens the mount table
	// that each runc invocation reads several times (three mounts a pod made a 100-pod burst 20 % slower).
	for _, k := range kinds {
		s.sandbox.Namespaces[k] = fmt.Sprintf("/proc/%d/ns/%s", pid, k)
	}
	return nil
}

// startPause clones the pause into new namespaces (flags) from a thread that has joined the pod's network
// namespace (the file netns, unless negative), so that the pause lives in it too, and waits for it to report
// that the hostname is set.
func (s *server) startPause(flags uintptr, hostname string, netns int) (int, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("pause: %w", err)
	}
	defer r.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		w.Close()
		return 0, fmt.Errorf("pause: %w", err)
	}
	defer devnull.Close()
	type started struct {
		p   *os.Process
		err error
	}
	ch := make(chan started, 1)
	go func() {
		// Never unlocked: the thread may be left in the pod's network namespace, so it must die with
		// this goroutine rather than go back to the scheduler.
		runtime.LockOSThread()
		if netns >= 0 {
			if err := unix.Setns(netns, unix.CLONE_NEWNET); err != nil {
				ch <- started{err: fmt.Errorf("pause: join netns %s: %w", s.cfg.NetNSPath, err)}
				return
			}
		}
		p, err := os.StartProcess(s.self, []string{"peapod-shim", "pause", hostname}, &os.ProcAttr{
			Env:   []string{"GOMAXPROCS=1"},
			Files: []*os.File{devnull, devnull, devnull, w},
			Sys:   &syscall.SysProcAttr{Cloneflags: flags},
		})
		ch <- started{p: p, err: err}
	}()
	res := <-ch
	w.Close()
	if res.err != nil {
		return 0, fmt.Errorf("pause: %w", res.err)
	}
	msg, err := io.ReadAll(io.LimitReader(r, 4096))
	if err == nil && string(msg) != "ok\n" {
		err = fmt.Errorf("%s", strings.TrimSpace(string(msg)))
	}
	if err != nil {
		_ = res.p.Kill()
		_, _ = res.p.Wait()
		return 0, fmt.Errorf("pause did not start: %w", err)
	}
	pid := res.p.Pid
	_ = res.p.Release() // reaped by reap(), with the containers
	return pid, nil
}

func validID(id string) error {
	if id == "" || strings.ContainsAny(id, "/\x00") || id == "." || id == ".." {
		return fmt.Errorf("invalid container id %q", id)
	}
	return nil
}

func (s *server) create(ctx context.Context, id string, req *CreateRequest) (err error) {
	if err := validID(id); err != nil {
		return err
	}
	c := &container{dir: filepath.Join(s.runDir, ctrDir, id), exited: make(chan struct{})}
	s.pauseHeld.RLock()
	defer s.pauseHeld.RUnlock()
	s.mu.Lock()
	if s.sandbox.PauseExited {
		s.mu.Unlock()
		return fmt.Errorf("create %s: the pod's infra process has exited", id)
	}
	if _, ok := s.ctrs[id]; ok {
		s.mu.Unlock()
		return fmt.Errorf("create %s: container already exists", id)
	}
	s.ctrs[id] = c
	c.op.Lock()
	s.mu.Unlock()
	defer c.op.Unlock()
	defer func() {
		if err != nil {
			s.mu.Lock()
			delete(s.ctrs, id)
			s.mu.Unlock()
			_ = os.RemoveAll(c.dir)
		}
	}()

	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", id, err)
	}
	if err := os.MkdirAll(filepath.Dir(req.LogPath), 0o755); err != nil {
		return fmt.Errorf("create %s: log dir: %w", id, err)
	}
	log, err := openCRILog(req.LogPath)
	if err != nil {
		return fmt.Errorf("create %s: %w", id, err)
	}
	std, err := newStdio(c.dir, req)
	if err != nil {
		log.Close()
		return fmt.Errorf("create %s: %w", id, err)
	}
	opts := std.options()
	opts.Bundle = req.Bundle
	opts.PidFile = filepath.Join(c.dir, "pid")
	err = s.rt.Create(ctx, id, opts)
	std.closeChildEnds()
	if err == nil {
		err = std.awaitConsole(ctx)
	}
	if err != nil {
		std.closeAll()
		log.Close()
		_ = s.rt.Delete(context.WithoutCancel(ctx), id, true)
		return err
	}
	c.stdin = std.start(log)
	c.log = log

	pidText, err := os.ReadFile(opts.PidFile)
	if err != nil {
		return fmt.Errorf("create %s: read pid file: %w", id, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(pidText)))
	if err != nil {
		return fmt.Errorf("create %s: pid file: %w", id, err)
	}
	c.memoryCgroup = memoryCgroupDir(pid)
	s.mu.Lock()
	c.state = ContainerState{ID: id, Status: StatusCreated, Pid: pid, LogPath: req.LogPath, Created: time.Now()}
	err = s.persistLocked()
	s.mu.Unlock()
	s.reap() // it may have been killed already
	return err
}

func (s *server) lookup(id string) (*container, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.ctrs[id]
	if !ok || c.state.Status == "" {
		return nil, fmt.Errorf("container %s: %w", id, errNoContainer)
	}
	return c, nil
}

func (s *server) start(ctx context.Context, id string) error {
	c, err := s.lookup(id)
	if err != nil {
		return err
	}
	c.op.Lock()
	defer c.op.Unlock()
	s.mu.Lock()
	if c.state.Status != StatusCreated {
		s.mu.Unlock()
		return fmt.Errorf("start %s: container is %s", id, c.state.Status)
	}
	// Recorded before the runtime call: a quick program may exit (and be reaped) before the call returns.
	c.state.Started = time.Now()
	s.mu.Unlock()
	err = s.rt.Start(ctx, id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if c.state.Status == StatusCreated {
			c.state.Started = time.Time{}
		}
		return err
	}
	if c.state.Status == StatusCreated {
		c.state.Status = StatusRunning
	}
	return s.persistLocked()
}

func (s *server) wait(ctx context.Context, id string) (*State, error) {
	c, err := s.lookup(id)
	if err != nil {
		return nil, err
	}
	select {
	case <-c.exited:
	case <-ctx.Done():
		return nil, fmt.Errorf("wait %s: %w", id, ctx.Err())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return &State{Sandbox: s.sandbox, Containers: []ContainerState{c.state}}, nil
}

func (s *server) kill(ctx context.Context, id string, sig syscall.Signal, all bool) error {
	c, err := s.lookup(id)
	if err != nil {
		return err
	}
	c.op.Lock()
	defer c.op.Unlock()
	s.mu.Lock()
	exited := c.state.Status == StatusExited
	s.mu.Unlock()
	if exited {
		return nil
	}
	return s.rt.Kill(ctx, id, sig, all)
}

func (s *server) delete(ctx context.Context, id string, force bool) error {
	c, err := s.lookup(id)
	if err != nil {
		return err
	}
	c.op.Lock()
	defer c.op.Unlock()
	if err := s.rt.Delete(ctx, id, force); err != nil {
		return err
	}
	if c.stdin != nil {
		_ = c.stdin.Close()
	}
	_ = os.RemoveAll(c.dir)
	s.mu.Lock()
	delete(s.ctrs, id)
	if c.state.Pid > 0 && c.state.Status != StatusExited {
		s.orphans = append(s.orphans, c.state.Pid) // a forced delete killed it; its exit is still ours to reap
	}
	err = s.persistLocked()
	s.mu.Unlock()
	s.reap()
	return err
}

// reap collects the exits of the pause and the containers. It waits for known pids only, so that it never
// takes the exit of a runtime process that os/exec is waiting for.
func (s *server) reap() {
	if s.adopted {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for _, c := range s.ctrs {
		if c.state.Pid <= 0 || c.state.Status == StatusExited {
			continue
		}
		var ws unix.WaitStatus
		pid, err := unix.Wait4(c.state.Pid, &ws, unix.WNOHANG, nil)
		switch {
		case pid == c.state.Pid:
			c.state.Status, c.state.Finished = StatusExited, time.Now()
			if ws.Signaled() {
				c.state.Signal = int(ws.Signal())
				c.state.ExitCode = 128 + c.state.Signal
			} else {
				c.state.ExitCode = ws.ExitStatus()
			}
			c.state.OOMKilled = oomKilled(c.memoryCgroup)
		case errors.Is(err, unix.ECHILD):
			// Not our child (it cannot happen while the shim is the subreaper): the exit code is lost.
			c.state.Status, c.state.Finished, c.state.ExitCode = StatusExited, time.Now(), 255
		default:
			continue
		}
		close(c.exited)
		changed = true
	}
	live := s.orphans[:0]
	for _, p := range s.orphans {
		var ws unix.WaitStatus
		if pid, err := unix.Wait4(p, &ws, unix.WNOHANG, nil); pid != p && !errors.Is(err, unix.ECHILD) {
			live = append(live, p)
		}
	}
	s.orphans = live
	if p := s.sandbox.PausePid; p > 0 && !s.sandbox.PauseExited && s.pauseHeld.TryLock() {
		var ws unix.WaitStatus
		if pid, err := unix.Wait4(p, &ws, unix.WNOHANG, nil); pid == p || errors.Is(err, unix.ECHILD) {
			s.sandbox.PauseExited, changed = true, true
		}
		s.pauseHeld.Unlock()
	}
	if changed {
		if err := s.persistLocked(); err != nil {
			fmt.Fprintln(os.Stderr, "peapod-shim:", err)
		}
	}
}

// teardown deletes every container, stops the pause, unmounts the namespace files and /dev/shm, removes
// the pod's cgroup and then the files the shim made in the run directory. On an error the socket and
// state stay, so that the agent can retry.
func (s *server) teardown(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	s.mu.Lock()
	ids := make([]string, 0, len(s.ctrs))
	for id := range s.ctrs {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	var errs []error
	for _, id := range ids {
		if err := s.delete(ctx, id, true); err != nil {
			errs = append(errs, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.sandbox.PausePid; p > 0 && !s.sandbox.PauseExited {
		_ = unix.Kill(p, unix.SIGKILL)
		var ws unix.WaitStatus
		_, _ = unix.Wait4(p, &ws, 0, nil) // ECHILD at once when an adopting Cleanup is not its parent
		s.sandbox.PauseExited = true
	}
	kept := s.mounts[:0]
	for _, m := range s.mounts {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
			kept = append(kept, m)
			continue
		}
		_ = os.Remove(m)
	}
	s.mounts = kept
	if s.cfg.CgroupParent != "" {
		if err := removeCgroup(s.cfg.CgroupParent); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		_ = s.persistLocked()
		return fmt.Errorf("shutdown: %w", err)
	}
	// Only what the shim made (and the directory if that empties it): the run directory may hold the
	// agent's bundles or mounted root filesystems.
	for _, name := range []string{socketFile, stateFile, stateFile + ".tmp", configFile, nsDir, shmDir, ctrDir, logFile} {
		_ = os.Remove(filepath.Join(s.runDir, name))
	}
	_ = os.Remove(s.runDir)
	return nil
}

// removeCgroup removes the pod's cgroup from every mounted cgroup hierarchy.
func removeCgroup(parent string) error {
	mounts, err := readMounts()
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range mounts {
		if m.fstype != "cgroup" && m.fstype != "cgroup2" {
			continue
		}
		dir := filepath.Join(m.point, parent)
		if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove cgroup: %w", err))
		}
	}
	return errors.Join(errs...)
}

type mountEntry struct{ point, fstype string }

// readMounts lists this process's mount points with their file system types.
func readMounts() ([]mountEntry, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	var out []mountEntry
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		for i, f := range fields {
			if f == "-" && i > 4 && i+1 < len(fields) {
				out = append(out, mountEntry{point: fields[4], fstype: fields[i+1]})
				break
			}
		}
	}
	return out, nil
}
