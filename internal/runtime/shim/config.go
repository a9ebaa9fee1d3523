package shim

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// SandboxConfig is what the shim of one pod needs; the agent writes it to the run directory and starts
// the shim on it.
type SandboxConfig struct {
	ID string `json:"id"`
	// RunDir is the pod's run directory: socket, state file, namespace files, /dev/shm. Its path must be
	// short enough for a unix socket (about 90 bytes).
	RunDir   string `json:"runDir"`
	Hostname string `json:"hostname,omitempty"`
	// NetNSPath is the pod's network namespace (a persistent file). Empty with HostNetwork.
	NetNSPath string `json:"netnsPath,omitempty"`
	// HostNetwork keeps the host's network and UTS namespaces (and hostname).
	HostNetwork bool `json:"hostNetwork,omitempty"`
	HostIPC     bool `json:"hostIPC,omitempty"`
	HostPID     bool `json:"hostPID,omitempty"`
	// SharePID puts the pause and every container in one PID namespace with the pause as PID 1.
	SharePID bool `json:"sharePID,omitempty"`
	// Runtime is the OCI runtime binary (runc or crun) and its state root.
	RuntimeBinary string `json:"runtimeBinary"`
	RuntimeRoot   string `json:"runtimeRoot"`
	// CgroupParent is the pod's cgroup (e.g. /peapod/pod-<uid>), the parent of its containers' cgroups
	// paths; the shim removes it from every mounted hierarchy when the pod shuts down.
	CgroupParent string `json:"cgroupParent,omitempty"`
	// The shim runs in a mount namespace of its own, a private copy of the host's made as it starts: the
	// pod's root filesystems and /dev/shm are mounted there, and the OCI runtime runs there, so that the host's
	// mount table does not grow with every pod. Mounts strictly below DetachMountsUnder (other pods' network
	// namespaces, root filesystems and volumes) are dropped from the copy, except KeepMounts and what is
	// below them (this pod's own).
	DetachMountsUnder []string `json:"detachMountsUnder,omitempty"`
	KeepMounts        []string `json:"keepMounts,omitempty"`
}

// Files of a run directory.
const (
	configFile = "sandbox.json"
	stateFile  = "state.json"
	socketFile = "shim.sock"
	logFile    = "shim.log"
	nsDir      = "ns"
	shmDir     = "shm"
	ctrDir     = "containers"
)

// SocketPath is the shim's socket in runDir.
func SocketPath(runDir string) string { return filepath.Join(runDir, socketFile) }

func readConfig(runDir string) (*SandboxConfig, error) {
	data, err := os.ReadFile(filepath.Join(runDir, configFile))
	if err != nil {
		return nil, fmt.Errorf("read sandbox config: %w", err)
	}
	var c SandboxConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("read sandbox config: %w", err)
	}
	return &c, nil
}

// ReadState reads the state file the shim keeps in runDir: what an agent falls back to when the shim
// itself is gone.
func ReadState(runDir string) (*State, error) {
	data, err := os.ReadFile(filepath.Join(runDir, stateFile))
	if err != nil {
		return nil, fmt.Errorf("read shim state: %w", err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("read shim state: %w", err)
	}
	return &s, nil
}

// writeFileAtomic replaces path so that a reader sees the old or the new content, never a torn one.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
