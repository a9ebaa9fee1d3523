// Package benchnode runs a real `peapod server`, node agent included, on a node network of its own for the
// benchmarks under hack/, and serves them a busybox image from a registry on 127.0.0.1.
package benchnode

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/peapod-dev/peapod/internal/runtime/image/imagetest"
)

// Network is a benchmark's node network, apart from the host's and the e2e tests' own.
type Network struct {
	Bridge, NFTable, ClusterCIDR, PodCIDR string
	// RunDir holds the shims' sockets (short: unix socket paths).
	RunDir string
}

// RemoveRunDir removes RunDir, and the tmpfs the agent mounts on it on a host whose /run is not one; the caller
// does so once it has looked for what the pods left there.
func (n Network) RemoveRunDir() {
	_ = syscall.Unmount(n.RunDir, syscall.MNT_DETACH)
	_ = os.RemoveAll(n.RunDir)
}

// Remove deletes the bridge, the nftables table and the unreachable route the server made.
func (n Network) Remove() {
	_ = exec.Command("ip", "link", "del", n.Bridge).Run()
	_ = exec.Command("nft", "delete", "table", "ip", n.NFTable).Run()
	_ = exec.Command("ip", "route", "del", "unreachable", n.ClusterCIDR).Run()
}

// Build builds peapod and peapod-shim into dir as hack/build.sh builds them (run from the repository root):
// a shim built otherwise, linked with libc, costs every pod more memory.
func Build(ctx context.Context, dir string) error {
	build := exec.CommandContext(ctx, "sh", "hack/build.sh")
	build.Env = append(os.Environ(), "OUT="+dir)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("hack/build.sh (run from the repository root): %w", err)
	}
	return nil
}

// PushBusybox serves the host's busybox as an image from a registry on 127.0.0.1 and returns its reference
// and the registry's stop.
func PushBusybox(ctx context.Context) (string, func(), error) {
	img, err := imagetest.BusyboxImage()
	if err != nil {
		return "", nil, err
	}
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	ref := strings.TrimPrefix(reg.URL, "http://") + "/busybox:latest"
	tag, err := name.NewTag(ref, name.Insecure)
	if err == nil {
		err = remote.Write(tag, img, remote.WithContext(ctx))
	}
	if err != nil {
		reg.Close()
		return "", nil, fmt.Errorf("push busybox: %w", err)
	}
	return ref, reg.Close, nil
}

// Server is a running `peapod server` with its node agent.
type Server struct {
	Cmd    *exec.Cmd
	Client kubernetes.Interface
	// DataDir is <work>/data; LogPath, <work>/server.log, where the server writes its output.
	DataDir, LogPath string
	done             chan struct{}
}

// Start runs bin/peapod server with runtime on network, its data and log under work, plus extra flags, and
// waits (30 s at most each) for /readyz and its node's registration.
func Start(ctx context.Context, bin, runtime, work string, network Network, extra ...string) (*Server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	kubelet, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, kubeletPort, _ := net.SplitHostPort(kubelet)
	s := &Server{DataDir: filepath.Join(work, "data"), LogPath: filepath.Join(work, "server.log")}
	args := append([]string{"server", "--data-dir", s.DataDir, "--listen", addr,
		"--node-ip", "127.0.0.1", "--runtime", runtime, "--bridge", network.Bridge, "--nft-table", network.NFTable,
		"--cluster-cidr", network.ClusterCIDR, "--pod-cidr", network.PodCIDR, "--kubelet-port", kubeletPort,
		"--run-dir", network.RunDir}, extra...)
	if err := s.start(exec.Command(filepath.Join(bin, "peapod"), args...), os.O_CREATE|os.O_TRUNC); err != nil {
		return nil, err
	}
	if err := s.waitReady(ctx, addr); err != nil {
		s.Stop()
		network.Remove()
		return nil, err
	}
	return s, nil
}

// start runs cmd with its output going to LogPath, opened with flag (truncate or append).
func (s *Server) start(cmd *exec.Cmd, flag int) error {
	logf, err := os.OpenFile(s.LogPath, os.O_WRONLY|flag, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own descriptor
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.Cmd, s.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.done) }()
	return nil
}

// Kill9AndRestart kills the server (-9), leaving its pods running, and starts it again on the same data, its
// output appended to the log; it does not wait for it to be ready.
func (s *Server) Kill9AndRestart() error {
	_ = s.Cmd.Process.Kill()
	<-s.done
	return s.start(exec.Command(s.Cmd.Path, s.Cmd.Args[1:]...), os.O_APPEND)
}

// Stop sends SIGTERM and waits for the server to exit, killing it after 10 s.
func (s *Server) Stop() {
	_ = s.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.Cmd.Process.Kill()
		<-s.done
	}
}

// freeAddr is a free 127.0.0.1 address.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (s *Server) waitReady(ctx context.Context, addr string) error {
	probe := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for deadline := time.Now().Add(30 * time.Second); ; {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/readyz", nil)
		if resp, err := probe.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			return errors.New("server not ready after 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(s.DataDir, "kubeconfig.yaml"))
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 1000, 1000
	if s.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if n, err := s.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil && len(n.Items) > 0 {
			return nil
		}
	}
	return errors.New("no node registered after 30 s")
}

// RSS is a process's VmRSS and RssAnon (KiB).
func RSS(pid int) (total, anon int, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			total, _ = strconv.Atoi(strings.Fields(v)[0])
		}
		if v, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			anon, _ = strconv.Atoi(strings.Fields(v)[0])
		}
	}
	if total == 0 {
		return 0, 0, errors.New("no VmRSS")
	}
	return total, anon, nil
}
