package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLifecycleRestartPolicies: a container that fails its first run and succeeds its second (a counter in
// an emptyDir), then sleeps, under each restart policy.
func TestLifecycleRestartPolicies(t *testing.T) {
	c := startAgentCluster(t)
	for _, policy := range []string{"Always", "OnFailure", "Never"} {
		c.apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: counter-`+strings.ToLower(policy)+`
spec:
  automountServiceAccountToken: false
  restartPolicy: `+policy+`
  terminationGracePeriodSeconds: 1
  volumes:
  - name: state
    emptyDir: {}
  containers:
  - name: main
    image: IMAGE
    volumeMounts:
    - name: state
      mountPath: /state
    command: ["sh", "-c"]
    args:
    - |
      n=$(cat /state/runs 2>/dev/null || echo 0); n=$((n+1)); echo $n > /state/runs
      echo run $n
      case $n in 1) exit 1;; 2) exit 0;; *) exec sleep 3600;; esac
`)
	}
	restarts := func(pod string) int {
		n, _ := strconv.Atoi(c.jsonpath(pod, "{.status.containerStatuses[0].restartCount}"))
		return n
	}
	c.waitPhase(t, "counter-onfailure", "Succeeded")
	c.waitPhase(t, "counter-never", "Failed")
	// Always: immediately after the first exit, then after the 10 s back-off.
	eventually(t, "counter-always restarted twice", func() (bool, error) {
		return restarts("counter-always") == 2 && c.jsonpath("counter-always", "{.status.containerStatuses[0].state.running}") != "",
			fmt.Errorf("restarts %d, state %s", restarts("counter-always"), c.jsonpath("counter-always", "{.status.containerStatuses[0].state}"))
	})
	if got := c.jsonpath("counter-always", "{.status.phase}"); got != "Running" {
		t.Errorf("Always: phase %s", got)
	}
	if got := c.jsonpath("counter-always", "{.status.containerStatuses[0].lastState.terminated.exitCode}"); got != "0" {
		t.Errorf("Always: lastState exit code %q, want 0 (the second run)", got)
	}
	if n := restarts("counter-onfailure"); n != 1 {
		t.Errorf("OnFailure: restartCount %d, want 1", n)
	}
	if n := restarts("counter-never"); n != 0 {
		t.Errorf("Never: restartCount %d, want 0", n)
	}
	if got := c.k.ok("logs", "counter-always", "--previous"); got != "run 2\n" {
		t.Errorf("logs --previous: %q", got)
	}
	if got := c.k.ok("logs", "counter-always"); got != "run 3\n" {
		t.Errorf("logs: %q", got)
	}
	events := c.k.ok("get", "events", "--field-selector", "involvedObject.name=counter-always,reason=BackOff")
	if !strings.Contains(events, "Back-off restarting failed container main in pod counter-always_"+c.k.ns) {
		t.Errorf("BackOff event:\n%s", events)
	}
}

// TestLifecycleInitContainers: init containers run in order to success before the app (the documents'
// javaweb pattern); a failing one loops in Init:CrashLoopBackOff under Always and fails the pod under Never.
func TestLifecycleInitContainers(t *testing.T) {
	c := startAgentCluster(t)
	c.apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: javaweb
spec:
  automountServiceAccountToken: false
  restartPolicy: Never
  volumes:
  - name: app-volume
    emptyDir: {}
  initContainers:
  - name: war
    image: IMAGE
    command: ["sh", "-c", "echo sample.war > /app/sample.war"]
    volumeMounts:
    - name: app-volume
      mountPath: /app
  - name: second
    image: IMAGE
    command: ["sh", "-c", "test -f /app/sample.war"]
    volumeMounts:
    - name: app-volume
      mountPath: /app
  containers:
  - name: tomcat
    image: IMAGE
    command: ["cat", "/root/apache-tomcat/webapps/sample.war"]
    volumeMounts:
    - name: app-volume
      mountPath: /root/apache-tomcat/webapps
---
apiVersion: v1
kind: Pod
metadata:
  name: init-fails-always
spec:
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: broken
    image: IMAGE
    command: ["sh", "-c", "exit 3"]
  containers:
  - name: app
    image: IMAGE
    command: ["sleep", "3600"]
---
apiVersion: v1
kind: Pod
metadata:
  name: init-fails-never
spec:
  automountServiceAccountToken: false
  restartPolicy: Never
  initContainers:
  - name: broken
    image: IMAGE
    command: ["sh", "-c", "exit 3"]
  containers:
  - name: app
    image: IMAGE
    command: ["sleep", "3600"]
`)
	c.waitPhase(t, "javaweb", "Succeeded")
	for i := range 2 {
		if got := c.jsonpath("javaweb", fmt.Sprintf("{.status.initContainerStatuses[%d].state.terminated.exitCode}", i)); got != "0" {
			t.Errorf("init container %d exit code %q", i, got)
		}
	}
	if got := c.k.ok("logs", "javaweb", "-c", "tomcat"); got != "sample.war\n" {
		t.Errorf("the app read %q from the init container's file", got)
	}
	c.waitPhase(t, "init-fails-never", "Failed")
	if got := c.jsonpath("init-fails-never", "{.status.containerStatuses[0].state.waiting.reason}"); got != "PodInitializing" {
		t.Errorf("app container of a failed init: waiting %q", got)
	}
	// Immediately, then 10 s, then 20 s: the third restart is about 30 s after the first failure.
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, _ := strconv.Atoi(c.jsonpath("init-fails-always", "{.status.initContainerStatuses[0].restartCount}"))
		table := c.k.ok("get", "pod", "init-fails-always")
		if n >= 3 && strings.Contains(table, "Init:CrashLoopBackOff") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("init-fails-always: restartCount %d after 60s:\n%s", n, table)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if got := c.jsonpath("init-fails-always", "{.status.containerStatuses[0].state.waiting.reason}"); got != "PodInitializing" {
		t.Errorf("app container while init loops: waiting %q", got)
	}
	if got := c.jsonpath("init-fails-always", `{.status.conditions[?(@.type=="Initialized")].message}`); got != "containers with incomplete status: [broken]" {
		t.Errorf("Initialized message %q", got)
	}
}

// TestLifecycleTermination: SIGTERM reaches the container on delete, the grace period ends in SIGKILL,
// activeDeadlineSeconds fails the pod, and termination messages come from the file or the log.
func TestLifecycleTermination(t *testing.T) {
	c := startAgentCluster(t)
	shared := t.TempDir()
	c.apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: trap
spec:
  automountServiceAccountToken: false
  volumes:
  - name: out
    hostPath:
      path: `+shared+`
  containers:
  - name: main
    image: IMAGE
    volumeMounts:
    - name: out
      mountPath: /out
    command: ["sh", "-c", "trap 'echo got SIGTERM > /out/trap; exit 0' TERM; while true; do sleep 0.1; done"]
---
apiVersion: v1
kind: Pod
metadata:
  name: stubborn
spec:
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 3
  containers:
  - name: main
    image: IMAGE
    command: ["sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"]
---
apiVersion: v1
kind: Pod
metadata:
  name: deadline
spec:
  automountServiceAccountToken: false
  activeDeadlineSeconds: 5
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: IMAGE
    command: ["sleep", "3600"]
---
apiVersion: v1
kind: Pod
metadata:
  name: messages
spec:
  automountServiceAccountToken: false
  restartPolicy: Never
  containers:
  - name: file
    image: IMAGE
    command: ["sh", "-c", "echo -n DONE > /dev/termination-log"]
  - name: fallback
    image: IMAGE
    terminationMessagePolicy: FallbackToLogsOnError
    command: ["sh", "-c", "echo something went wrong; exit 2"]
`)
	c.waitPhase(t, "trap", "Running")
	c.waitPhase(t, "stubborn", "Running")
	c.k.ok("delete", "pod", "trap")
	eventually(t, "the trap ran", func() (bool, error) {
		data, err := readFile(shared + "/trap")
		return data == "got SIGTERM\n", err
	})
	start := time.Now()
	c.k.ok("delete", "pod", "stubborn")
	if took := time.Since(start); took < 3*time.Second || took > 5*time.Second+500*time.Millisecond {
		t.Errorf("a container ignoring SIGTERM with grace 3s was gone after %v", took)
	}

	c.waitPhase(t, "deadline", "Failed")
	if got := c.jsonpath("deadline", "{.status.reason}"); got != "DeadlineExceeded" {
		t.Errorf("deadline pod reason %q", got)
	}
	if got := c.jsonpath("deadline", "{.status.message}"); got != "Pod was active on the node longer than the specified deadline" {
		t.Errorf("deadline pod message %q", got)
	}

	if got := c.terminationMessage(t, "messages", "file"); got != "DONE" {
		t.Errorf("termination message from the file: %q", got)
	}
	if got := c.terminationMessage(t, "messages", "fallback"); got != "something went wrong\n" {
		t.Errorf("termination message from the log: %q", got)
	}
}

// TestLifecycleOOMKilled: a container over its memory limit is killed with reason OOMKilled, exit 137.
func TestLifecycleOOMKilled(t *testing.T) {
	c := startAgentCluster(t)
	c.apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: oom
spec:
  automountServiceAccountToken: false
  restartPolicy: Never
  containers:
  - name: main
    image: IMAGE
    resources:
      limits:
        memory: 15Mi
    command: ["sh", "-c", "dd if=/dev/zero of=/dev/null bs=20M count=1"]
`)
	c.waitPhase(t, "oom", "Failed")
	if got := c.jsonpath("oom", "{.status.containerStatuses[0].state.terminated.reason}"); got != "OOMKilled" {
		t.Errorf("reason %q", got)
	}
	if got := c.jsonpath("oom", "{.status.containerStatuses[0].state.terminated.exitCode}"); got != "137" {
		t.Errorf("exit code %q", got)
	}
	if out := c.k.ok("get", "pod", "oom"); !strings.Contains(out, "OOMKilled") {
		t.Errorf("kubectl get pod:\n%s", out)
	}
}

// TestLifecycleAgentRestart kills peapod (-9) with five running pods, one of whose containers exits
// while it is down: on return the four others are untouched, the exited one is seen with its real exit
// code and restarted; a pod deleted while the agent is away is torn down when it returns.
func TestLifecycleAgentRestart(t *testing.T) {
	c := startAgentCluster(t)
	var manifest strings.Builder
	for i := range 4 {
		fmt.Fprintf(&manifest, `apiVersion: v1
kind: Pod
metadata:
  name: steady-%d
spec:
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: IMAGE
    command: ["sleep", "3600"]
---
`, i)
	}
	manifest.WriteString(`apiVersion: v1
kind: Pod
metadata:
  name: exits
spec:
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: IMAGE
    command: ["sh", "-c", "sleep 4; exit 7"]
`)
	c.apply(t, manifest.String())
	before := map[string]string{}
	for i := range 4 {
		name := fmt.Sprintf("steady-%d", i)
		c.waitPhase(t, name, "Running")
		before[name] = c.jsonpath(name, "{.status.containerStatuses[0].containerID} {.status.containerStatuses[0].state.running.startedAt}")
	}
	c.waitPhase(t, "exits", "Running")

	c.srv.kill(t)
	time.Sleep(6 * time.Second) // "exits" ends while nobody watches
	c.srv.start(t)

	eventually(t, "the exited container seen with its exit code and restarted", func() (bool, error) {
		code := c.jsonpath("exits", "{.status.containerStatuses[0].lastState.terminated.exitCode}")
		restarts := c.jsonpath("exits", "{.status.containerStatuses[0].restartCount}")
		return code == "7" && restarts != "0", fmt.Errorf("exit code %q restarts %q", code, restarts)
	})
	for name, want := range before {
		if got := c.jsonpath(name, "{.status.containerStatuses[0].containerID} {.status.containerStatuses[0].state.running.startedAt}"); got != want {
			t.Errorf("%s changed across the restart: %s, was %s", name, got, want)
		}
		if n := c.jsonpath(name, "{.status.containerStatuses[0].restartCount}"); n != "0" {
			t.Errorf("%s restartCount %s", name, n)
		}
	}

	// Deleted while the agent is away: the control plane alone removes it (forced), the agent tears it
	// down when it comes back.
	uid := c.jsonpath("steady-0", "{.metadata.uid}")
	c.srv.stop(t)
	c.srv.args = append(c.srv.args, "--disable-agent")
	c.srv.start(t)
	c.k.ok("delete", "pod", "steady-0", "--grace-period=0", "--force")
	c.srv.stop(t)
	c.srv.args = c.srv.args[:len(c.srv.args)-1]
	c.srv.start(t)
	eventually(t, "the deleted pod torn down", func() (bool, error) {
		_, err := os.Stat(c.srv.dataDir + "/agent/pods/" + uid)
		out, _ := exec.Command("ps", "-eo", "args").Output()
		return os.IsNotExist(err) && !strings.Contains(string(out), c.runDir+"/pods/"+uid), err
	})
}
