package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peapod-dev/peapod/internal/runtime/image/imagetest"
)

// Names of the node network the agent tests use, so that they never touch a real peapod0.
const (
	testBridge      = "ppe2e0"
	testTable       = "peapod-e2e"
	testClusterCIDR = "10.244.200.0/22"
	testPodCIDR     = "10.244.200.0/24"
)

// agentCluster is a peapod server with its node agent, a registry holding busybox, and kubectl 1.33.
type agentCluster struct {
	srv      *server
	k        *kubectl
	registry string // host:port
	image    string // registry/busybox:latest
	runDir   string
}

// startAgentCluster starts the cluster; args are extra flags for peapod server.
func startAgentCluster(t *testing.T, args ...string) *agentCluster {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the node agent needs root")
	}
	for _, bin := range []string{"runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed", bin)
		}
	}
	registry := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	image := registry + "/busybox:latest"
	imagetest.Push(t, registry, "busybox:latest", imagetest.Busybox(t))
	t.Cleanup(func() { removeNodeNetwork(t) })
	// A run directory of its own (short: it holds unix sockets), so the leftover checks see only this
	// agent's shims.
	runDir, err := os.MkdirTemp("/run", "pe2e")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Unmount(runDir, syscall.MNT_DETACH) // the agent's tmpfs, on a host whose /run is not one
		os.RemoveAll(runDir)
	})
	_, kubeletPort, _ := strings.Cut(freeAddr(t), ":")
	srv := startServerWith(t, append([]string{"--node-ip", "127.0.0.1", "--node-name", "e2e-node", "--run-dir", runDir, "--kubelet-port", kubeletPort,
		"--bridge", testBridge, "--nft-table", testTable, "--cluster-cidr", testClusterCIDR, "--pod-cidr", testPodCIDR}, args...)...)
	bin := filepath.Join(kubectlDir(t), "kubectl.1.33")
	k := &kubectl{t: t, bin: bin, version: "1.33", srv: srv, cacheDir: t.TempDir()}
	k.ns = srv.namespace(t, "e2e-agent")
	c := &agentCluster{srv: srv, k: k, registry: registry, image: image, runDir: runDir}
	eventually(t, "node registered and Ready", func() (bool, error) {
		out := k.run("get", "node", "e2e-node", "--no-headers")
		return out.code == 0 && strings.Contains(out.stdout, " Ready "), fmt.Errorf("%s%s", out.stdout, out.stderr)
	})
	t.Cleanup(func() { c.deleteAllAndCheckHost(t) })
	return c
}

// deleteAllAndCheckHost deletes every pod and checks that the host keeps nothing of them.
func (c *agentCluster) deleteAllAndCheckHost(t *testing.T) {
	t.Helper()
	if c.srv.cmd == nil {
		return
	}
	c.k.run("delete", "pods", "--all", "-n", c.k.ns, "--grace-period=1", "--wait=true", "--timeout=60s")
	eventually(t, "no pods left", func() (bool, error) {
		out := c.k.run("get", "pods", "-A", "--no-headers")
		return strings.TrimSpace(out.stdout) == "", fmt.Errorf("%s", out.stdout)
	})
	mounts, _ := os.ReadFile("/proc/mounts")
	for _, line := range strings.Split(string(mounts), "\n") {
		if fields := strings.Fields(line); len(fields) > 2 && fields[1] == c.runDir && fields[2] == "tmpfs" {
			continue // the node's run directory itself, not a pod's
		}
		if strings.Contains(line, c.srv.dataDir) || strings.Contains(line, c.runDir) || strings.Contains(line, "netns/peapod-") {
			t.Errorf("mount left behind: %s", line)
		}
	}
	if out, _ := exec.Command("ip", "-o", "link", "show", "master", testBridge).Output(); strings.TrimSpace(string(out)) != "" {
		t.Errorf("veths left on the bridge:\n%s", out)
	}
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "peapod-") {
			t.Errorf("network namespace left behind: %s", e.Name())
		}
	}
	out, _ := exec.Command("ps", "-eo", "args").Output()
	if shims := grepLines(grepLines(string(out), "peapod-shim"), c.runDir); shims != "" {
		t.Errorf("shim processes left behind:\n%s", shims)
	}
	// No address stays allocated: IPAM keeps one file per address under the network state directory.
	_ = filepath.WalkDir(filepath.Join(c.srv.dataDir, "agent", "network"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), "10.244.200.") {
			t.Errorf("address still allocated: %s", path)
		}
		return nil
	})
	for _, qos := range []string{"", "burstable", "besteffort"} {
		dir := filepath.Join("/sys/fs/cgroup/memory/peapod", qos)
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.IsDir() && strings.HasPrefix(e.Name(), "pod") {
				t.Errorf("cgroup left behind: %s/%s", dir, e.Name())
			}
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// removeNodeNetwork removes the bridge, table and route the test agent set up on the host.
func removeNodeNetwork(t *testing.T) {
	_ = exec.Command("ip", "link", "del", testBridge).Run()
	_ = exec.Command("nft", "delete", "table", "ip", testTable).Run()
	_ = exec.Command("ip", "route", "del", "unreachable", testClusterCIDR).Run()
	// The QoS-class parents the runtime made (empty once the pods are gone), in every hierarchy.
	for _, pattern := range []string{"/sys/fs/cgroup/*/peapod/besteffort", "/sys/fs/cgroup/*/peapod/burstable", "/sys/fs/cgroup/*/peapod", "/sys/fs/cgroup/unified/peapod/*", "/sys/fs/cgroup/unified/peapod"} {
		dirs, _ := filepath.Glob(pattern)
		for _, d := range dirs {
			_ = os.Remove(d)
		}
	}
}

func (c *agentCluster) apply(t *testing.T, manifest string) {
	t.Helper()
	c.k.ok("apply", "-f", writeFile(t, "pod.yaml", strings.ReplaceAll(manifest, "IMAGE", c.image)))
}

func (c *agentCluster) jsonpath(name, path string) string {
	return strings.TrimSpace(c.k.run("get", "pod", name, "-o", "jsonpath="+path).stdout)
}

func (c *agentCluster) waitPhase(t *testing.T, name, phase string) {
	t.Helper()
	eventually(t, name+" "+phase, func() (bool, error) {
		got := c.jsonpath(name, "{.status.phase}")
		return got == phase, fmt.Errorf("phase %q; status %s", got, c.jsonpath(name, "{.status.containerStatuses}"))
	})
}

// TestAgentRunsTheDocumentsTwoContainerPod runs the source documents' pod: one container writes
// index.html into a shared hostPath volume, the other serves it; the host fetches it from the pod IP.
func TestAgentRunsTheDocumentsTwoContainerPod(t *testing.T) {
	c := startAgentCluster(t)
	shared := t.TempDir()
	c.apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: two-containers
spec:
  volumes:
  - name: shared-data
    hostPath:
      path: `+shared+`
  containers:
  - name: web
    image: IMAGE
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    volumeMounts:
    - name: shared-data
      mountPath: /www
  - name: writer
    image: IMAGE
    volumeMounts:
    - name: shared-data
      mountPath: /pod-data
    command: ["/bin/sh"]
    args: ["-c", "echo Hello from the debian container > /pod-data/index.html && sleep 3600"]
`)
	c.waitPhase(t, "two-containers", "Running")
	ip := c.jsonpath("two-containers", "{.status.podIP}")
	if !strings.HasPrefix(ip, "10.244.200.") {
		t.Fatalf("podIP %q is not from the pod CIDR %s", ip, testPodCIDR)
	}
	if got := c.jsonpath("two-containers", "{.status.hostIP}"); got != "127.0.0.1" {
		t.Errorf("hostIP %q, want 127.0.0.1", got)
	}
	if body := getEventually(t, "http://"+ip+"/index.html"); body != "Hello from the debian container\n" {
		t.Errorf("served %q", body)
	}
	out := c.k.ok("get", "pod", "two-containers")
	if !strings.Contains(out, "2/2") || !strings.Contains(out, "Running") {
		t.Errorf("kubectl get pod:\n%s", out)
	}
	describe := c.k.ok("describe", "pod", "two-containers")
	for _, want := range []string{
		"Successfully assigned " + c.k.ns + "/two-containers to e2e-node",
		"Pulling", "Pulled", "Created container: web", "Started container web", "Created container: writer", "Started container writer",
		"Ready                       True", "PodReadyToStartContainers   True",
	} {
		if !strings.Contains(describe, want) {
			t.Errorf("describe lacks %q:\n%s", want, describe)
		}
	}
	c.k.ok("delete", "pod", "two-containers", "--grace-period=1")
	eventually(t, "Killing events", func() (bool, error) {
		out := c.k.run("get", "events", "--field-selector", "reason=Killing")
		return strings.Contains(out.stdout, "Stopping container web"), fmt.Errorf("%s", out.stdout)
	})
}

// TestAgentSchedulingAndImageErrors covers the scheduler's FailedScheduling for a nodeSelector until the
// node gets the label, and the image pull failures' waiting reasons.
func TestAgentSchedulingAndImageErrors(t *testing.T) {
	c := startAgentCluster(t)
	c.apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: kubia-ssd
spec:
  automountServiceAccountToken: false
  nodeSelector:
    disktype: ssd
  containers:
  - name: main
    image: IMAGE
    command: ["sleep", "3600"]
---
apiVersion: v1
kind: Pod
metadata:
  name: missing-image
spec:
  automountServiceAccountToken: false
  containers:
  - name: main
    image: `+c.registry+`/no-such-image:1
---
apiVersion: v1
kind: Pod
metadata:
  name: never-pull
spec:
  automountServiceAccountToken: false
  containers:
  - name: main
    image: `+c.registry+`/not-here:1
    imagePullPolicy: Never
`)
	eventually(t, "FailedScheduling", func() (bool, error) {
		out := c.k.run("describe", "pod", "kubia-ssd")
		return strings.Contains(out.stdout, "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."), fmt.Errorf("%s", out.stdout)
	})
	if got := c.jsonpath("kubia-ssd", "{.status.phase}"); got != "Pending" {
		t.Errorf("phase %q before the label", got)
	}
	c.k.ok("label", "node", "e2e-node", "disktype=ssd")
	t.Cleanup(func() { c.k.run("label", "node", "e2e-node", "disktype-") })
	c.waitPhase(t, "kubia-ssd", "Running")

	reason := func(name string) string {
		return c.jsonpath(name, "{.status.containerStatuses[0].state.waiting.reason}")
	}
	eventually(t, "ErrImageNeverPull", func() (bool, error) { r := reason("never-pull"); return r == "ErrImageNeverPull", fmt.Errorf("%q", r) })
	seen := map[string]bool{}
	eventually(t, "ErrImagePull then ImagePullBackOff", func() (bool, error) {
		seen[reason("missing-image")] = true
		return seen["ErrImagePull"] && seen["ImagePullBackOff"], fmt.Errorf("seen %v", seen)
	})
	if out := c.k.ok("get", "pod", "never-pull"); !strings.Contains(out, "ErrImageNeverPull") {
		t.Errorf("kubectl get pod never-pull:\n%s", out)
	}
}

// terminationMessage waits for container of pod to terminate and returns its termination message.
func (c *agentCluster) terminationMessage(t *testing.T, pod, container string) string {
	t.Helper()
	path := fmt.Sprintf(`{.status.containerStatuses[?(@.name=="%s")].state.terminated}`, container)
	eventually(t, pod+"/"+container+" terminated", func() (bool, error) {
		got := c.jsonpath(pod, path)
		return got != "", fmt.Errorf("status %s", c.jsonpath(pod, "{.status}"))
	})
	// Not trimmed: the message is compared byte for byte.
	return c.k.run("get", "pod", pod, "-o", fmt.Sprintf(`jsonpath={.status.containerStatuses[?(@.name=="%s")].state.terminated.message}`, container)).stdout
}

// TestAgentPodNetworking: pods reach each other by pod IP without NAT, the host reaches pods, and the
// containers of one pod share hostname, IP and localhost, where a second bind of a port fails.
func TestAgentPodNetworking(t *testing.T) {
	c := startAgentCluster(t)
	c.apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: server
spec:
  automountServiceAccountToken: false
  containers:
  - name: web
    image: IMAGE
    command: ["sh", "-c"]
    args:
    - |
      mkdir -p /www/cgi-bin
      printf '#!/bin/sh\necho Content-Type: text/plain\necho\necho $REMOTE_ADDR\n' > /www/cgi-bin/ip
      chmod +x /www/cgi-bin/ip
      exec httpd -f -p 8080 -h /www
  - name: neighbour
    image: IMAGE
    command: ["sh", "-c", "sleep 1; (wget -qO- http://localhost:8080/cgi-bin/ip; hostname) > /dev/termination-log; sleep 3600"]
  - name: same-port
    image: IMAGE
    command: ["sh", "-c", "sleep 1; httpd -f -p 8080 -h /"]
`)
	c.waitPhase(t, "server", "Running")
	serverIP := c.jsonpath("server", "{.status.podIP}")

	// The host reaches the pod directly; the pod sees the host's bridge address, not a translated one.
	if fromHost := remoteAddr(getEventually(t, "http://"+serverIP+":8080/cgi-bin/ip")); fromHost != "10.244.200.1" {
		t.Errorf("the pod saw the host as %q, want the bridge address 10.244.200.1", fromHost)
	}

	c.apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  automountServiceAccountToken: false
  restartPolicy: Never
  containers:
  - name: main
    image: IMAGE
    command: ["sh", "-c", "wget -qO- http://`+serverIP+`:8080/cgi-bin/ip > /dev/termination-log"]
`)
	seen := remoteAddr(c.terminationMessage(t, "client", "main"))
	clientIP := c.jsonpath("client", "{.status.podIP}")
	if seen != clientIP || clientIP == "" {
		t.Errorf("the server saw the client as %q, want its pod IP %q", seen, clientIP)
	}
	c.waitPhase(t, "client", "Succeeded")

	// Same pod: localhost reaches the neighbour's port, the hostname is the pod's.
	neighbour := strings.Split(c.terminationMessageWhenSet(t, "server", "neighbour"), "\n")
	if len(neighbour) < 2 || remoteAddr(neighbour[0]) != "127.0.0.1" || neighbour[1] != "server" {
		t.Errorf("neighbour saw %q, want localhost as 127.0.0.1 and hostname server", neighbour)
	}
	// The second bind fails, and restartPolicy Always makes it loop: the failure shows in the status
	// (last state Error, exit 1, CrashLoopBackOff) and in the previous instance's log.
	eventually(t, "same-port in CrashLoopBackOff", func() (bool, error) {
		last := c.jsonpath("server", `{.status.containerStatuses[?(@.name=="same-port")].lastState.terminated.reason}`)
		waiting := c.jsonpath("server", `{.status.containerStatuses[?(@.name=="same-port")].state.waiting.reason}`)
		return last == "Error" && waiting == "CrashLoopBackOff", fmt.Errorf("last %q waiting %q", last, waiting)
	})
	if got := c.jsonpath("server", `{.status.containerStatuses[?(@.name=="same-port")].lastState.terminated.exitCode}`); got != "1" {
		t.Errorf("same-port exit code %q", got)
	}
	if logs := c.k.ok("logs", "server", "-c", "same-port", "--previous"); !strings.Contains(logs, "bind: Address already in use") {
		t.Errorf("logs of the second bind of 8080: %q", logs)
	}
	if out := c.k.ok("get", "pod", "server"); !strings.Contains(out, "CrashLoopBackOff") {
		t.Errorf("kubectl get pod server:\n%s", out)
	}
}

// remoteAddr is busybox httpd's REMOTE_ADDR without its IPv4-mapped IPv6 dress: [::ffff:10.1.2.3].
func remoteAddr(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimSuffix(s, "]"), "[")
	return strings.TrimPrefix(s, "::ffff:")
}

// terminationMessageWhenSet waits until a running container has written its termination log... which
// the status only shows once it ends; so read it from the node's file while the container runs.
func (c *agentCluster) terminationMessageWhenSet(t *testing.T, pod, container string) string {
	t.Helper()
	uid := c.jsonpath(pod, "{.metadata.uid}")
	pattern := filepath.Join(c.srv.dataDir, "agent", "pods", uid, "containers", container, "termination-log-0")
	var data []byte
	eventually(t, pod+"/"+container+" wrote its termination log", func() (bool, error) {
		var err error
		data, err = os.ReadFile(pattern)
		return err == nil && len(data) > 0, err
	})
	return string(data)
}

// TestAgentNamespacesAndHostsFile: shareProcessNamespace puts the pause at PID 1 with every container's
// processes; without it each container's process is PID 1; hostNetwork sees the host's interfaces;
// hostAliases give the kubelet's exact /etc/hosts.
func TestAgentNamespacesAndHostsFile(t *testing.T) {
	c := startAgentCluster(t)
	c.apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: shared-pid
spec:
  automountServiceAccountToken: false
  shareProcessNamespace: true
  restartPolicy: Never
  containers:
  - name: sleeper
    image: IMAGE
    command: ["sleep", "3600"]
  - name: ps
    image: IMAGE
    command: ["sh", "-c", "sleep 1; ps -o pid,args > /dev/termination-log"]
---
apiVersion: v1
kind: Pod
metadata:
  name: own-pid
spec:
  automountServiceAccountToken: false
  restartPolicy: Never
  containers:
  - name: sleeper
    image: IMAGE
    command: ["sleep", "3600"]
  - name: ps
    image: IMAGE
    command: ["sh", "-c", "ps -o pid,args > /dev/termination-log"]
---
apiVersion: v1
kind: Pod
metadata:
  name: host-net
spec:
  automountServiceAccountToken: false
  hostNetwork: true
  restartPolicy: Never
  containers:
  - name: main
    image: IMAGE
    command: ["sh", "-c", "ip -o link > /dev/termination-log"]
---
apiVersion: v1
kind: Pod
metadata:
  name: hostaliases-pod
spec:
  automountServiceAccountToken: false
  restartPolicy: Never
  hostAliases:
  - ip: "127.0.0.1"
    hostnames:
    - "foo.local"
    - "bar.local"
  - ip: "10.1.2.3"
    hostnames:
    - "foo.remote"
    - "bar.remote"
  containers:
  - name: cat-hosts
    image: IMAGE
    command: ["cat"]
    args: ["/etc/hosts"]
    terminationMessagePolicy: FallbackToLogsOnError
    terminationMessagePath: /dev/termination-log
  - name: copy-hosts
    image: IMAGE
    command: ["sh", "-c", "cat /etc/hosts > /dev/termination-log"]
`)
	shared := c.terminationMessage(t, "shared-pid", "ps")
	lines := strings.Split(strings.TrimSpace(shared), "\n")
	if len(lines) < 3 || !strings.HasPrefix(strings.TrimSpace(lines[1]), "1 ") || !strings.Contains(lines[1], "pause") || !strings.Contains(shared, "sleep 3600") {
		t.Errorf("ps with a shared PID namespace:\n%s", shared)
	}
	own := c.terminationMessage(t, "own-pid", "ps")
	if strings.Contains(own, "sleep") || strings.Contains(own, "pause") || !strings.Contains(own, "    1 {ps} sh -c ps -o pid,args") {
		t.Errorf("ps in a PID namespace of its own:\n%s", own)
	}

	hostLinks, err := exec.Command("ip", "-o", "link").Output()
	if err != nil {
		t.Fatal(err)
	}
	podLinks := c.terminationMessage(t, "host-net", "main")
	for _, name := range []string{"lo:", testBridge + ":"} {
		if !strings.Contains(string(hostLinks), name) || !strings.Contains(podLinks, name) {
			t.Errorf("host network pod does not see the host's %s:\n%s", name, podLinks)
		}
	}
	if ip := c.jsonpath("host-net", "{.status.podIP}"); ip != "127.0.0.1" {
		t.Errorf("hostNetwork podIP %q, want the node IP 127.0.0.1", ip)
	}

	hosts := c.terminationMessage(t, "hostaliases-pod", "copy-hosts")
	ip := c.jsonpath("hostaliases-pod", "{.status.podIP}")
	want := "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n" +
		ip + "\thostaliases-pod\n\n# Entries added by HostAliases.\n127.0.0.1\tfoo.local\tbar.local\n10.1.2.3\tfoo.remote\tbar.remote\n"
	if hosts != want {
		t.Errorf("/etc/hosts\n%q\nwant\n%q", hosts, want)
	}
}

// TestAgentInsufficientMemory: a request above the node's allocatable stays Pending with kube-scheduler's
// message.
func TestAgentInsufficientMemory(t *testing.T) {
	c := startAgentCluster(t)
	c.apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: too-big
spec:
  containers:
  - name: main
    image: IMAGE
    resources:
      requests:
        memory: 100Ti
`)
	eventually(t, "Insufficient memory", func() (bool, error) {
		out := c.k.run("get", "events", "--field-selector", "involvedObject.name=too-big,reason=FailedScheduling")
		return strings.Contains(out.stdout, "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."), fmt.Errorf("%s", out.stdout)
	})
	if got := c.jsonpath("too-big", `{.status.conditions[?(@.type=="PodScheduled")].reason}`); got != "Unschedulable" {
		t.Errorf("PodScheduled reason %q", got)
	}
}

// TestAgentPullsWithImagePullSecrets pulls from a registry that wants credentials: with the pod's
// dockerconfigjson secret it runs, without it the pull fails with the registry's answer.
func TestAgentPullsWithImagePullSecrets(t *testing.T) {
	c := startAgentCluster(t)
	private := imagetest.StartRegistry(t, imagetest.RegistryOptions{Username: "peapod", Password: "s3cret"})
	imagetest.Push(t, private, "team/busybox:1", imagetest.Busybox(t), imagetest.WithBasicAuth("peapod", "s3cret"))
	c.k.ok("create", "secret", "docker-registry", "regcred", "--docker-server="+private, "--docker-username=peapod", "--docker-password=s3cret")
	c.apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: private
spec:
  automountServiceAccountToken: false
  imagePullSecrets:
  - name: regcred
  containers:
  - name: main
    image: `+private+`/team/busybox:1
    command: ["sleep", "3600"]
---
apiVersion: v1
kind: Pod
metadata:
  name: no-credentials
spec:
  automountServiceAccountToken: false
  containers:
  - name: main
    image: `+private+`/team/busybox:1
    imagePullPolicy: Always
    command: ["sleep", "3600"]
`)
	c.waitPhase(t, "private", "Running")
	if id := c.jsonpath("private", "{.status.containerStatuses[0].imageID}"); !strings.HasPrefix(id, private+"/team/busybox@sha256:") {
		t.Errorf("imageID %q", id)
	}
	eventually(t, "pull refused without credentials", func() (bool, error) {
		msg := c.jsonpath("no-credentials", "{.status.containerStatuses[0].state.waiting.message}")
		return strings.Contains(msg, "UNAUTHORIZED"), fmt.Errorf("waiting message %q", msg)
	})
}

// TestAgentLogsAndServiceAccount reads container logs through the API server and the node endpoint with
// kubectl's options, from a pod that prints what its default service account volume holds.
func TestAgentLogsAndServiceAccount(t *testing.T) {
	c := startAgentCluster(t)
	c.apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: talker
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: IMAGE
    env:
    - name: POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    - name: GREETING
      value: "hello from $(POD_NAME)"
    command: ["sh", "-c"]
    args:
    - |
      echo to stderr >&2
      sleep 0.5
      echo "$GREETING"
      cat /var/run/secrets/kubernetes.io/serviceaccount/namespace; echo
      wc -c < /var/run/secrets/kubernetes.io/serviceaccount/token
      head -c 27 /var/run/secrets/kubernetes.io/serviceaccount/ca.crt; echo
      for i in 1 2 3; do echo line $i; done
  - name: second
    image: IMAGE
    command: ["sh", "-c", "echo second; sleep 3600"]
`)
	eventually(t, "main finished", func() (bool, error) {
		st := c.jsonpath("talker", `{.status.containerStatuses[?(@.name=="main")].state.terminated.reason}`)
		return st == "Completed", fmt.Errorf("main: %q %s", st, c.jsonpath("talker", "{.status.containerStatuses}"))
	})
	logs := c.k.ok("logs", "talker", "-c", "main")
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	// stderr first: the shell writes it at once, its stdout half a second later.
	if len(lines) != 8 || lines[0] != "to stderr" || lines[1] != "hello from talker" || lines[2] != c.k.ns || lines[4] != "-----BEGIN CERTIFICATE-----" || lines[7] != "line 3" {
		t.Fatalf("logs:\n%s", logs)
	}
	if n, err := strconv.Atoi(strings.TrimSpace(lines[3])); err != nil || n < 100 {
		t.Errorf("token file is %q bytes", lines[3])
	}
	if got := c.k.ok("logs", "talker", "-c", "main", "--tail=2"); got != "line 2\nline 3\n" {
		t.Errorf("--tail=2: %q", got)
	}
	if got := c.k.ok("logs", "talker", "-c", "main", "--limit-bytes=5"); got != "to st" {
		t.Errorf("--limit-bytes=5: %q", got)
	}
	stamped := c.k.ok("logs", "talker", "-c", "main", "--timestamps", "--tail=1")
	if fields := strings.SplitN(stamped, " ", 2); len(fields) != 2 || fields[1] != "line 3\n" || !strings.Contains(fields[0], "T") {
		t.Errorf("--timestamps: %q", stamped)
	}
	if got := c.k.ok("logs", "talker", "-c", "second"); got != "second\n" {
		t.Errorf("second container: %q", got)
	}
	if got := c.k.ok("logs", "talker", "-c", "main", "--since=1h"); !strings.Contains(got, "hello from talker") {
		t.Errorf("--since=1h: %q", got)
	}
	// -f follows a running container until interrupted: its output so far arrives, and it keeps running.
	followCtx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	follow := c.k.command(followCtx, "logs", "-f", "talker", "-c", "second")
	var followed strings.Builder
	follow.Stdout = &followed
	_ = follow.Run()
	if followed.String() != "second\n" || followCtx.Err() == nil {
		t.Errorf("logs -f of a running container: %q, ended before the timeout: %v", followed.String(), followCtx.Err() == nil)
	}
	// Without -c kubectl picks the first container itself and says so.
	if res := c.k.run("logs", "talker"); res.code != 0 || !strings.Contains(res.stderr, `Defaulted container "main" out of: main, second`) || !strings.Contains(res.stdout, "hello from talker") {
		t.Errorf("logs without -c: %d %s %s", res.code, res.stdout, res.stderr)
	}
}

// getEventually GETs url (a pod's address) until it answers 200 and returns the body.
func getEventually(t *testing.T, url string) string {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	var body string
	eventually(t, "GET "+url, func() (bool, error) {
		resp, err := client.Get(url)
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		body = string(data)
		return resp.StatusCode == 200, fmt.Errorf("HTTP %d %s", resp.StatusCode, data)
	})
	return body
}

func readFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	return string(data), err
}
