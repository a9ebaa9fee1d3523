package shim_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/peapod-dev/peapod/internal/runtime/oci"
	"github.com/peapod-dev/peapod/internal/runtime/oci/ocitest"
	"github.com/peapod-dev/peapod/internal/runtime/oci/runc"
	"github.com/peapod-dev/peapod/internal/runtime/shim"
)

// The test binary doubles as peapod-shim (serve, pause) and as an agent that dies (test-agent), so that
// the tests need no separate build and the shim runs under the race detector with them.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "serve", "pause":
			os.Exit(shimMain())
		case "test-agent":
			os.Exit(testAgent())
		}
	}
	os.Exit(m.Run())
}

func shimMain() int {
	ready := os.NewFile(3, "ready")
	var err error
	if os.Args[1] == "pause" {
		err = shim.Pause(os.Args[2], ready)
	} else {
		var self string
		if self, err = os.Executable(); err == nil {
			err = shim.Serve(context.Background(), self, os.Args[2], ready)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "peapod-shim:", err)
		return 1
	}
	return 0
}

// shimBinary is the peapod-shim to test: $PEAPOD_SHIM (a real build, for benchmarks) or this test binary.
func shimBinary(tb testing.TB) string {
	if p := os.Getenv("PEAPOD_SHIM"); p != "" {
		return p
	}
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	return exe
}

var podSeq atomic.Int64

type pod struct {
	cfg    shim.SandboxConfig
	client *shim.Client
	state  *shim.State
	rootfs string
}

// startPod starts a sandbox for rt and shuts it down with the test.
func startPod(tb testing.TB, rt ocitest.Runtime, rootfs string, modify func(*shim.SandboxConfig)) *pod {
	tb.Helper()
	if err := runc.PrepareHybridCgroups("/sys/fs/cgroup"); err != nil {
		tb.Fatal(err)
	}
	n := podSeq.Add(1)
	dir := tb.TempDir()
	cfg := shim.SandboxConfig{
		ID:            fmt.Sprintf("pod%d", n),
		RunDir:        filepath.Join(dir, "run"),
		Hostname:      fmt.Sprintf("pod-%d", n),
		SharePID:      true,
		RuntimeBinary: rt.Binary,
		RuntimeRoot:   filepath.Join(dir, "runtime"),
		CgroupParent:  fmt.Sprintf("/peapod-test-%d-pod%d", os.Getpid(), n),
	}
	if modify != nil {
		modify(&cfg)
	}
	if cfg.NetNSPath == "" && !cfg.HostNetwork {
		cfg.NetNSPath = ocitest.NetNS(tb)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := shim.Start(ctx, shimBinary(tb), cfg)
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(cfg.RunDir, "shim.log"))
		tb.Fatalf("start sandbox: %v\n%s", err, log)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Shutdown(ctx); err != nil && !errors.Is(err, syscall.ENOENT) && !strings.Contains(err.Error(), "no such file") {
			tb.Errorf("shutdown: %v", err)
		}
	})
	st, err := c.State(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return &pod{cfg: cfg, client: c, state: st, rootfs: rootfs}
}

// bundle writes a container's config.json joined to the pod's namespaces.
func (p *pod) bundle(tb testing.TB, id string, cfg oci.ContainerConfig) string {
	tb.Helper()
	cfg.Rootfs = p.rootfs
	cfg.Namespaces = map[specs.LinuxNamespaceType]string{}
	for k, v := range p.state.Sandbox.Namespaces {
		cfg.Namespaces[specs.LinuxNamespaceType(k)] = v
	}
	if _, ok := cfg.Namespaces[specs.PIDNamespace]; !ok && !p.cfg.HostPID {
		cfg.Namespaces[specs.PIDNamespace] = ""
	}
	cfg.ShmPath = p.state.Sandbox.ShmPath
	cfg.CgroupsPath = p.cfg.CgroupParent + "/" + id
	s, err := oci.Spec(&cfg)
	if err != nil {
		tb.Fatal(err)
	}
	dir := filepath.Join(filepath.Dir(p.cfg.RunDir), "bundles", id)
	if err := oci.WriteSpec(dir, s); err != nil {
		tb.Fatal(err)
	}
	return dir
}

func (p *pod) logPath(id string) string {
	return filepath.Join(filepath.Dir(p.cfg.RunDir), "logs", id+".log")
}

// run creates and starts a container and returns its log path.
func (p *pod) run(tb testing.TB, id string, cfg oci.ContainerConfig) string {
	tb.Helper()
	ctx := context.Background()
	req := shim.CreateRequest{Bundle: p.bundle(tb, id, cfg), LogPath: p.logPath(id), Terminal: cfg.Terminal}
	if err := p.client.CreateContainer(ctx, id, req); err != nil {
		tb.Fatalf("create %s: %v", id, err)
	}
	if err := p.client.StartContainer(ctx, id); err != nil {
		tb.Fatalf("start %s: %v", id, err)
	}
	return req.LogPath
}

// waitExit polls the shim until the container has exited.
func waitExit(tb testing.TB, c *shim.Client, id string) *shim.ContainerState {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		st, err := c.Container(context.Background(), id)
		if err != nil {
			tb.Fatalf("state of %s: %v", id, err)
		}
		if st.Status == shim.StatusExited {
			return st
		}
		time.Sleep(5 * time.Millisecond)
	}
	tb.Fatalf("container %s did not exit", id)
	return nil
}

var criLine = regexp.MustCompile(`^(\S+) (stdout|stderr) ([FP]) (.*)$`)

// readLog returns the log's "<stream> <content>" entries, checking the CRI format of every line; it waits
// (bounded) until want appears, since the shim may still be copying.
func readLog(tb testing.TB, path, want string) []string {
	tb.Helper()
	var entries []string
	for range 400 {
		entries = entries[:0]
		data, _ := os.ReadFile(path)
		sc := bufio.NewScanner(strings.NewReader(string(data)))
		for sc.Scan() {
			m := criLine.FindStringSubmatch(sc.Text())
			if m == nil {
				tb.Fatalf("log line %q is not CRI format", sc.Text())
			}
			if _, err := time.Parse(time.RFC3339Nano, m[1]); err != nil {
				tb.Fatalf("log timestamp %q: %v", m[1], err)
			}
			entries = append(entries, m[2]+" "+m[4])
		}
		if strings.Contains(strings.Join(entries, "\n"), want) {
			return entries
		}
		time.Sleep(10 * time.Millisecond)
	}
	tb.Fatalf("log %s never had %q; it has %q", path, want, entries)
	return nil
}

func TestExitCodesAndLogs(t *testing.T) {
	ocitest.RequireRoot(t)
	rootfs := ocitest.BusyboxRootfs(t)
	for _, rt := range ocitest.Runtimes(t) {
		t.Run(rt.Name, func(t *testing.T) {
			p := startPod(t, rt, rootfs, nil)
			tests := []struct {
				id       string
				args     []string
				kill     bool
				wantCode int
				wantSig  int
				wantLog  string
			}{
				{"ok", []string{"sh", "-c", "echo hello; echo oops >&2"}, false, 0, 0, "stderr oops"},
				{"fail", []string{"sh", "-c", "echo bye; exit 1"}, false, 1, 0, "stdout bye"},
				{"killed", []string{"sh", "-c", "echo up; exec sleep 60"}, true, 137, 9, "stdout up"},
			}
			for _, tt := range tests {
				t.Run(tt.id, func(t *testing.T) {
					log := p.run(t, tt.id, oci.ContainerConfig{Args: tt.args})
					readLog(t, log, tt.wantLog)
					if tt.kill {
						if err := p.client.KillContainer(context.Background(), tt.id, syscall.SIGKILL, false); err != nil {
							t.Fatal(err)
						}
					}
					st := waitExit(t, p.client, tt.id)
					if st.ExitCode != tt.wantCode || st.Signal != tt.wantSig {
						t.Errorf("exit = %d signal %d, want %d signal %d", st.ExitCode, st.Signal, tt.wantCode, tt.wantSig)
					}
					if st.Started.IsZero() || st.Finished.Before(st.Started) || st.Created.After(st.Started) {
						t.Errorf("times created %v started %v finished %v", st.Created, st.Started, st.Finished)
					}
					if err := p.client.DeleteContainer(context.Background(), tt.id, false); err != nil {
						t.Fatal(err)
					}
					if _, err := os.Stat(log); err != nil {
						t.Errorf("log gone after delete: %v", err)
					}
					if _, err := p.client.Container(context.Background(), tt.id); !errors.Is(err, shim.ErrNotFound) {
						t.Errorf("state after delete: %v, want ErrNotFound", err)
					}
				})
			}
			saved, err := shim.ReadState(p.cfg.RunDir)
			if err != nil || saved.Sandbox.PausePid != p.state.Sandbox.PausePid {
				t.Errorf("state file: %+v, %v", saved, err)
			}
		})
	}
}

func TestCreateErrorCarriesRuntimeMessage(t *testing.T) {
	ocitest.RequireRoot(t)
	rt := ocitest.Runtimes(t)[0]
	p := startPod(t, rt, ocitest.BusyboxRootfs(t), nil)
	ctx := context.Background()
	req := shim.CreateRequest{Bundle: p.bundle(t, "bad", oci.ContainerConfig{Args: []string{"/no/such/binary"}}), LogPath: p.logPath("bad")}
	err := p.client.CreateContainer(ctx, "bad", req)
	if err == nil {
		err = p.client.StartContainer(ctx, "bad")
	}
	if err == nil || !strings.Contains(err.Error(), "/no/such/binary") {
		t.Fatalf("create+start of a missing binary: %v, want the runtime's message", err)
	}
	if err := p.client.StartContainer(ctx, "never"); !errors.Is(err, shim.ErrNotFound) {
		t.Errorf("start of an unknown container: %v, want ErrNotFound", err)
	}
}

func nsLink(tb testing.TB, path string) string {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		tb.Fatal(err)
	}
	return fmt.Sprintf("%d", st.Ino)
}

func TestContainersShareSandboxNamespaces(t *testing.T) {
	ocitest.RequireRoot(t)
	rootfs := ocitest.BusyboxRootfs(t)
	for _, rt := range ocitest.Runtimes(t) {
		t.Run(rt.Name, func(t *testing.T) {
			p := startPod(t, rt, rootfs, nil)
			// Each prints its namespaces' inodes and hostname, then the process list, and stays up so that
			// both are alive together.
			script := `for n in uts ipc net pid; do echo "$n $(stat -L -c %i /proc/self/ns/$n)"; done; echo "host $(hostname)"; ps -o pid,args; echo done; exec sleep 60`
			logs := map[string][]string{}
			for _, id := range []string{"a", "b"} {
				log := p.run(t, id, oci.ContainerConfig{Args: []string{"sh", "-c", script}})
				logs[id] = readLog(t, log, "stdout done")
			}
			want := map[string]string{
				"uts":  nsLink(t, p.state.Sandbox.Namespaces["uts"]),
				"ipc":  nsLink(t, p.state.Sandbox.Namespaces["ipc"]),
				"net":  nsLink(t, p.cfg.NetNSPath),
				"pid":  nsLink(t, p.state.Sandbox.Namespaces["pid"]),
				"host": p.cfg.Hostname,
			}
			for id, entries := range logs {
				joined := strings.Join(entries, "\n")
				for k, v := range want {
					if !strings.Contains(joined, "stdout "+k+" "+v+"\n") {
						t.Errorf("container %s: want %q in\n%s", id, k+" "+v, joined)
					}
				}
				if !regexp.MustCompile(`stdout\s+1 ({\S+} )?peapod-shim pause`).MatchString(joined) {
					t.Errorf("container %s: ps does not show the pause as PID 1:\n%s", id, joined)
				}
			}
			host, _ := os.Hostname()
			if host == p.cfg.Hostname {
				t.Errorf("the host's hostname became the pod's")
			}
		})
	}
}

func TestPrivatePIDNamespace(t *testing.T) {
	ocitest.RequireRoot(t)
	rt := ocitest.Runtimes(t)[0]
	p := startPod(t, rt, ocitest.BusyboxRootfs(t), func(c *shim.SandboxConfig) { c.SharePID = false })
	if _, ok := p.state.Sandbox.Namespaces["pid"]; ok {
		t.Fatalf("sandbox has a pid namespace without sharing: %v", p.state.Sandbox.Namespaces)
	}
	log := p.run(t, "solo", oci.ContainerConfig{Args: []string{"sh", "-c", "echo pid $$; hostname"}})
	entries := strings.Join(readLog(t, log, "stdout "+p.cfg.Hostname), "\n")
	if !strings.Contains(entries, "stdout pid 1") {
		t.Errorf("container is not PID 1 of its own namespace:\n%s", entries)
	}
}

func TestSecurityTakesEffect(t *testing.T) {
	ocitest.RequireRoot(t)
	rootfs := ocitest.BusyboxRootfs(t)
	user, err := oci.ResolveUser(rootfs, "app")
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range ocitest.Runtimes(t) {
		t.Run(rt.Name, func(t *testing.T) {
			p := startPod(t, rt, rootfs, nil)
			script := `echo "id $(id -u):$(id -g) $(id -G)"; grep CapBnd /proc/self/status; ` +
				`touch /rootfs-write 2>/dev/null && echo rootfs writable || echo rootfs readonly; ` +
				`echo "timer_list $(wc -c < /proc/timer_list)"; echo x > /proc/sys/kernel/domainname 2>/dev/null && echo procsys writable || echo procsys readonly; ` +
				`grep -E "NoNewPrivs|SigIgn" /proc/self/status; echo done`
			log := p.run(t, "sec", oci.ContainerConfig{
				Args: []string{"sh", "-c", script}, User: user, ReadonlyRootfs: true, NoNewPrivileges: true,
				CapDrop: []string{"ALL"}, CapAdd: []string{"NET_BIND_SERVICE"},
			})
			joined := strings.Join(readLog(t, log, "stdout done"), "\n")
			for _, want := range []string{
				"stdout id 1000:1000 1000 10 29", "stdout CapBnd:\t0000000000000400", "stdout rootfs readonly",
				"stdout timer_list 0", "stdout procsys readonly", "stdout NoNewPrivs:\t1", "stdout SigIgn:\t0000000000000000",
			} {
				if !strings.Contains(joined, want) {
					t.Errorf("want %q in\n%s", want, joined)
				}
			}
		})
	}
}

func TestTerminal(t *testing.T) {
	ocitest.RequireRoot(t)
	rootfs := ocitest.BusyboxRootfs(t)
	for _, rt := range ocitest.Runtimes(t) {
		t.Run(rt.Name, func(t *testing.T) {
			p := startPod(t, rt, rootfs, nil)
			log := p.run(t, "tty", oci.ContainerConfig{Args: []string{"sh", "-c", "tty; echo done; exit 4"}, Terminal: true})
			joined := strings.Join(readLog(t, log, "stdout done"), "\n")
			if !regexp.MustCompile(`stdout /dev/pts/\d+\n`).MatchString(joined + "\n") {
				t.Errorf("no pty in\n%q", joined)
			}
			if strings.Contains(joined, "\r") {
				t.Errorf("carriage returns logged: %q", joined)
			}
			if st := waitExit(t, p.client, "tty"); st.ExitCode != 4 {
				t.Errorf("exit code %d, want 4", st.ExitCode)
			}
		})
	}
}

// joinSandbox points the namespaces of the bundle's config at the started sandbox's, which are known only once
// its pause runs.
func joinSandbox(ctx context.Context, c *shim.Client, bundle string) error {
	st, err := c.State(ctx)
	if err != nil {
		return err
	}
	path := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return err
	}
	for i, ns := range spec.Linux.Namespaces {
		if p, ok := st.Sandbox.Namespaces[string(ns.Type)]; ok {
			spec.Linux.Namespaces[i].Path = p
		}
	}
	if data, err = json.Marshal(&spec); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// testAgent plays an agent that starts a pod with a container and then waits to be killed. It prints the
// run directory when the container runs.
func testAgent() int {
	var cfg shim.SandboxConfig
	if err := json.Unmarshal([]byte(os.Args[2]), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	c, err := shim.Start(ctx, os.Args[3], cfg)
	if err == nil {
		err = joinSandbox(ctx, c, os.Args[4])
	}
	if err == nil {
		err = c.CreateContainer(ctx, "survivor", shim.CreateRequest{Bundle: os.Args[4], LogPath: os.Args[5]})
	}
	if err == nil {
		err = c.StartContainer(ctx, "survivor")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("running")
	time.Sleep(time.Minute)
	return 0
}

func TestContainersOutliveAgent(t *testing.T) {
	ocitest.RequireRoot(t)
	rt := ocitest.Runtimes(t)[0]
	rootfs := ocitest.BusyboxRootfs(t)
	// A pod to borrow the paths from; the agent below starts its own and points the bundle at its namespaces.
	dir := t.TempDir()
	cfg := shim.SandboxConfig{
		ID: "survivor-pod", RunDir: filepath.Join(dir, "run"), Hostname: "survivor", NetNSPath: ocitest.NetNS(t),
		SharePID: true, RuntimeBinary: rt.Binary, RuntimeRoot: filepath.Join(dir, "runtime"),
		CgroupParent: fmt.Sprintf("/peapod-test-%d-survivor", os.Getpid()),
	}
	p := &pod{cfg: cfg, rootfs: rootfs, state: &shim.State{Sandbox: shim.SandboxState{
		Namespaces: map[string]string{"uts": "/proc/self/ns/uts", "ipc": "/proc/self/ns/ipc", "pid": "/proc/self/ns/pid",
			"network": cfg.NetNSPath},
		ShmPath: filepath.Join(cfg.RunDir, "shm"),
	}}}
	bundle := p.bundle(t, "survivor", oci.ContainerConfig{Args: []string{"sh", "-c", `trap "echo bye; exit 7" TERM; echo up; while true; do sleep 0.1; done`}})
	cfgJSON, _ := json.Marshal(cfg)
	exe, _ := os.Executable()
	agent := exec.Command(exe, "test-agent", string(cfgJSON), shimBinary(t), bundle, p.logPath("survivor"))
	agent.Stderr = os.Stderr
	out, err := agent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	client := shim.NewClient(cfg.RunDir)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := client.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "running\n" {
		_ = agent.Process.Kill()
		_ = agent.Wait()
		t.Fatalf("agent: %q, %v", line, err)
	}
	if err := agent.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = agent.Wait()

	// A new agent: a fresh client finds the container running, stops it and learns its exit code.
	ctx := context.Background()
	st, err := client.Container(ctx, "survivor")
	if err != nil || st.Status != shim.StatusRunning {
		t.Fatalf("after the agent died: %+v, %v; want running", st, err)
	}
	readLog(t, p.logPath("survivor"), "stdout up")
	if err := client.KillContainer(ctx, "survivor", syscall.SIGTERM, false); err != nil {
		t.Fatal(err)
	}
	if st := waitExit(t, client, "survivor"); st.ExitCode != 7 || st.Signal != 0 {
		t.Errorf("exit %d signal %d, want 7", st.ExitCode, st.Signal)
	}
	readLog(t, p.logPath("survivor"), "stdout bye")
	saved, err := shim.ReadState(cfg.RunDir)
	if err != nil || len(saved.Containers) != 1 || saved.Containers[0].ExitCode != 7 {
		t.Errorf("state file after exit: %+v, %v", saved, err)
	}
}

func TestShutdownLeavesNothing(t *testing.T) {
	ocitest.RequireRoot(t)
	rootfs := ocitest.BusyboxRootfs(t)
	for _, rt := range ocitest.Runtimes(t) {
		t.Run(rt.Name, func(t *testing.T) {
			p := startPod(t, rt, rootfs, nil)
			p.run(t, "running", oci.ContainerConfig{Args: []string{"sleep", "60"}})
			p.run(t, "exited", oci.ContainerConfig{Args: []string{"true"}})
			waitExit(t, p.client, "exited")
			st, err := p.client.State(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			pids := []int{st.Sandbox.PausePid, st.Sandbox.ShimPid}
			for _, c := range st.Containers {
				pids = append(pids, c.Pid)
			}
			if err := p.client.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			for range 200 {
				if unix.Kill(st.Sandbox.ShimPid, 0) != nil {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			for _, pid := range pids {
				if err := unix.Kill(pid, 0); err == nil {
					t.Errorf("process %d still exists", pid)
				}
			}
			mounts, _ := os.ReadFile("/proc/self/mountinfo")
			if strings.Contains(string(mounts), p.cfg.RunDir) {
				t.Errorf("mounts left under %s", p.cfg.RunDir)
			}
			cgroups, _ := filepath.Glob("/sys/fs/cgroup/*" + p.cfg.CgroupParent)
			if len(cgroups) > 0 {
				t.Errorf("cgroups left: %v", cgroups)
			}
			r := &runc.Runtime{Binary: rt.Binary, Root: p.cfg.RuntimeRoot}
			if list, err := r.List(context.Background()); err != nil || len(list) > 0 {
				t.Errorf("runtime state left: %+v, %v", list, err)
			}
			if entries, err := os.ReadDir(p.cfg.RunDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("run dir still holds %v (%v)", entries, err)
			}
		})
	}
}

func TestPauseReapsAndStops(t *testing.T) {
	ocitest.RequireRoot(t)
	rt := ocitest.Runtimes(t)[0]
	p := startPod(t, rt, ocitest.BusyboxRootfs(t), nil)
	// The backgrounded sleep's parent exits at once: the orphan goes to the pause, which must reap it.
	log := p.run(t, "orphans", oci.ContainerConfig{Args: []string{"sh", "-c",
		`(sleep 0.1 &); sleep 0.5; echo "zombies $(ps -o stat | grep -c Z)"; exec sleep 60`}})
	joined := strings.Join(readLog(t, log, "stdout zombies"), "\n")
	if !strings.Contains(joined, "stdout zombies 0") {
		t.Errorf("zombies left in the pod:\n%s", joined)
	}
	if _, err := shim.Start(context.Background(), shimBinary(t), p.cfg); err == nil {
		t.Error("a second shim started over a running one")
	}
	if err := unix.Kill(p.state.Sandbox.PausePid, unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// PID 1 of the pod going away takes the pod's processes with it.
	if st := waitExit(t, p.client, "orphans"); st.Signal != int(unix.SIGKILL) {
		t.Errorf("container exit %+v, want killed with the pod's PID namespace", st)
	}
	for range 200 {
		st, err := p.client.State(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Sandbox.PauseExited {
			// Its namespaces, which containers join through /proc/<pid>/ns, are gone: a create must not run.
			bundle := p.bundle(t, "late", oci.ContainerConfig{Args: []string{"true"}})
			err := p.client.CreateContainer(context.Background(), "late", shim.CreateRequest{Bundle: bundle, LogPath: p.logPath("late")})
			if err == nil || !strings.Contains(err.Error(), "infra process has exited") {
				t.Errorf("create after the pause exited: %v, want refused", err)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Error("pause exit not recorded")
}

func TestHostNamespaces(t *testing.T) {
	ocitest.RequireRoot(t)
	rt := ocitest.Runtimes(t)[0]
	p := startPod(t, rt, ocitest.BusyboxRootfs(t), func(c *shim.SandboxConfig) {
		c.HostNetwork, c.HostIPC, c.HostPID, c.SharePID = true, true, true, false
	})
	if len(p.state.Sandbox.Namespaces) != 0 || p.state.Sandbox.ShmPath != "/dev/shm" {
		t.Fatalf("sandbox = %+v, want host namespaces and /dev/shm", p.state.Sandbox)
	}
	for _, ns := range []string{"uts", "ipc", "net", "pid"} {
		if a, b := nsLink(t, fmt.Sprintf("/proc/%d/ns/%s", os.Getppid(), ns)), nsLink(t, fmt.Sprintf("/proc/%d/ns/%s", p.state.Sandbox.PausePid, ns)); a != b {
			t.Errorf("pause has its own %s namespace", ns)
		}
	}
	host, _ := os.Hostname()
	log := p.run(t, "h", oci.ContainerConfig{Args: []string{"hostname"}})
	readLog(t, log, "stdout "+host)
}

func TestWaitAndOOM(t *testing.T) {
	ocitest.RequireRoot(t)
	rootfs := ocitest.BusyboxRootfs(t)
	for _, rt := range ocitest.Runtimes(t) {
		t.Run(rt.Name, func(t *testing.T) {
			p := startPod(t, rt, rootfs, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			// dd's 64 MiB block buffer does not fit in 16 MiB.
			p.run(t, "hog", oci.ContainerConfig{
				Args:      []string{"dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=4"},
				Resources: oci.Resources{MemoryLimit: 16 << 20},
			})
			st, err := p.client.WaitContainer(ctx, "hog")
			if err != nil {
				t.Fatal(err)
			}
			if !st.OOMKilled || st.ExitCode != 137 {
				t.Errorf("hog = %+v, want OOM-killed with 137", st)
			}
			p.run(t, "fine", oci.ContainerConfig{Args: []string{"sh", "-c", "exit 3"}})
			st, err = p.client.WaitContainer(ctx, "fine")
			if err != nil || st.OOMKilled || st.ExitCode != 3 {
				t.Errorf("fine = %+v, %v; want exit 3 without OOM", st, err)
			}
			p.run(t, "long", oci.ContainerConfig{Args: []string{"sleep", "60"}})
			short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancelShort()
			if _, err := p.client.WaitContainer(short, "long"); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("wait on a running container: %v, want the caller's deadline", err)
			}
		})
	}
}

func TestReopenLog(t *testing.T) {
	ocitest.RequireRoot(t)
	rt := ocitest.Runtimes(t)[0]
	p := startPod(t, rt, ocitest.BusyboxRootfs(t), nil)
	log := p.run(t, "chatty", oci.ContainerConfig{Args: []string{"sh", "-c", `i=0; while [ $i -lt 600 ]; do echo "line $i"; i=$((i+1)); sleep 0.05; done`}})
	readLog(t, log, "stdout line 1")
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	if err := p.client.ReopenLog(context.Background(), "chatty"); err != nil {
		t.Fatal(err)
	}
	entries := readLog(t, log, "stdout line")
	old := readLog(t, log+".1", "stdout line 1")
	if entries[0] == old[len(old)-1] {
		t.Errorf("the new file repeats the old one's last entry %q", entries[0])
	}
}

func TestCleanupAfterShimDied(t *testing.T) {
	ocitest.RequireRoot(t)
	rt := ocitest.Runtimes(t)[0]
	p := startPod(t, rt, ocitest.BusyboxRootfs(t), nil)
	p.run(t, "left", oci.ContainerConfig{Args: []string{"sleep", "60"}})
	st, err := p.client.State(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := shim.Cleanup(context.Background(), p.cfg.RunDir); err == nil {
		t.Fatal("Cleanup went ahead with a live shim")
	}
	if err := unix.Kill(st.Sandbox.ShimPid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for range 200 {
		if _, err := p.client.State(context.Background()); err != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := shim.Cleanup(context.Background(), p.cfg.RunDir); err != nil {
		t.Fatal(err)
	}
	for range 200 {
		if unix.Kill(st.Sandbox.PausePid, 0) != nil && unix.Kill(st.Containers[0].Pid, 0) != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, pid := range []int{st.Sandbox.PausePid, st.Containers[0].Pid} {
		if unix.Kill(pid, 0) == nil {
			if data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); !strings.Contains(string(data), ") Z ") {
				t.Errorf("process %d survived: %s", pid, data)
			}
		}
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), p.cfg.RunDir) {
		t.Errorf("mounts left under %s", p.cfg.RunDir)
	}
	if cgroups, _ := filepath.Glob("/sys/fs/cgroup/*" + p.cfg.CgroupParent); len(cgroups) > 0 {
		t.Errorf("cgroups left: %v", cgroups)
	}
	r := &runc.Runtime{Binary: rt.Binary, Root: p.cfg.RuntimeRoot}
	if list, err := r.List(context.Background()); err != nil || len(list) > 0 {
		t.Errorf("runtime state left: %+v, %v", list, err)
	}
	if _, err := os.Stat(p.cfg.RunDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("run dir left: %v", err)
	}
	if err := shim.Cleanup(context.Background(), p.cfg.RunDir); err != nil {
		t.Errorf("second Cleanup: %v", err)
	}
}

// The shim's mount namespace holds the pod's /dev/shm, which the host's mount table never shows, and none of
// the foreign mounts below DetachMountsUnder: single mounts go one by one, a directory that is a mount point
// of its own goes whole; what KeepMounts names stays.
func TestMountNamespace(t *testing.T) {
	ocitest.RequireRoot(t)
	base := t.TempDir()
	under, nsDir := filepath.Join(base, "pods"), filepath.Join(base, "netns")
	mine, other, nsFile := filepath.Join(under, "mine"), filepath.Join(under, "other"), filepath.Join(nsDir, "pod-x")
	mount := func(source, target, fstype string, flags uintptr) {
		if err := os.MkdirAll(target, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount(source, target, fstype, flags, ""); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = unix.Unmount(target, unix.MNT_DETACH) })
	}
	mount("tmpfs", mine, "tmpfs", 0)
	mount("tmpfs", other, "tmpfs", 0)
	mount(nsDir, nsDir, "", unix.MS_BIND)
	mount("tmpfs", nsFile, "tmpfs", 0)

	rt := ocitest.Runtimes(t)[0]
	p := startPod(t, rt, ocitest.BusyboxRootfs(t), func(c *shim.SandboxConfig) {
		c.DetachMountsUnder, c.KeepMounts = []string{under, nsDir}, []string{mine}
	})
	if nsLink(t, fmt.Sprintf("/proc/%d/ns/mnt", p.state.Sandbox.ShimPid)) == nsLink(t, "/proc/self/ns/mnt") {
		t.Fatal("the shim shares the host's mount namespace")
	}
	mountPoints := func(pid string) map[string]bool {
		data, err := os.ReadFile("/proc/" + pid + "/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		points := map[string]bool{}
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) > 4 {
				points[f[4]] = true
			}
		}
		return points
	}
	inPod, onHost := mountPoints(strconv.Itoa(p.state.Sandbox.ShimPid)), mountPoints("self")
	for point, want := range map[string]bool{mine: true, other: false, nsDir: false, nsFile: false, p.state.Sandbox.ShmPath: true} {
		if inPod[point] != want {
			t.Errorf("%s mounted in the pod's namespace: %v, want %v", point, inPod[point], want)
		}
	}
	if onHost[p.state.Sandbox.ShmPath] {
		t.Errorf("the pod's /dev/shm %s is in the host's mount table", p.state.Sandbox.ShmPath)
	}
	if !onHost[other] || !onHost[nsFile] {
		t.Errorf("detaching in the pod's namespace reached the host's mounts")
	}
	// The containers still join the pod's network namespace, through the pause, with its file gone here.
	if got, want := nsLink(t, p.state.Sandbox.Namespaces["network"]), nsLink(t, p.cfg.NetNSPath); got != want {
		t.Errorf("network namespace for containers %s, want the pod's %s", got, want)
	}
}
