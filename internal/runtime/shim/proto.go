// Package shim is the per-pod monitor: one small detached process per pod that starts the pod's infra
// (pause) process, holds the pod's namespaces bind-mounted in the pod's run directory, runs the OCI
// runtime for the pod's containers as their child-subreaper, owns their stdio, writes their CRI logs and
// records their exits, so that containers and their exit codes outlive the agent. The agent talks to it
// over a unix socket with a small versioned protocol of JSON lines (one request and one response per
// connection).
//
// The package imports only the standard library and golang.org/x/sys, because it is linked into the
// small peapod-shim binary whose memory every pod pays for.
package shim

import (
	"time"
)

// ProtocolVersion is the version of the request/response protocol; a shim rejects any other.
const ProtocolVersion = 1

// Operations of the protocol.
const (
	OpState    = "state"    // sandbox and container states
	OpCreate   = "create"   // runtime create with stdio owned by the shim
	OpStart    = "start"    // runtime start
	OpKill     = "kill"     // signal a container
	OpDelete   = "delete"   // runtime delete and forget the container
	OpWait     = "wait"     // block until the container has exited, then its state
	OpReopen   = "reopen"   // reopen the container's log file (after the agent rotated it)
	OpShutdown = "shutdown" // delete every container, stop the pause, unmount and remove the run dir, exit
)

// Request is one line a client sends.
type Request struct {
	Version int    `json:"version"`
	Op      string `json:"op"`
	// ID names the container of create, start, kill and delete.
	ID     string         `json:"id,omitempty"`
	Create *CreateRequest `json:"create,omitempty"`
	// Signal and All are kill's arguments.
	Signal int  `json:"signal,omitempty"`
	All    bool `json:"all,omitempty"`
	// Force makes delete kill a running container first.
	Force bool `json:"force,omitempty"`
}

// CreateRequest describes a container whose bundle (config.json) the agent has written.
type CreateRequest struct {
	Bundle string `json:"bundle"`
	// LogPath is the CRI log file; it is appended to and kept after the container is deleted.
	LogPath string `json:"logPath"`
	// Terminal must match the spec's process.terminal: the shim then receives the pty master from the
	// runtime and logs it as stdout.
	Terminal bool `json:"terminal,omitempty"`
	// Stdin keeps a pipe (or the pty) open to the container's stdin; otherwise stdin is /dev/null.
	Stdin bool `json:"stdin,omitempty"`
}

// Response is the one line a shim answers.
type Response struct {
	Version int    `json:"version"`
	Error   string `json:"error,omitempty"`
	// NotFound marks an error about an unknown container.
	NotFound bool   `json:"notFound,omitempty"`
	State    *State `json:"state,omitempty"`
}

// Container statuses.
const (
	StatusCreated = "created"
	StatusRunning = "running"
	StatusExited  = "exited"
)

// State is the pod's sandbox and containers as the shim knows them; it is also the content of the state
// file in the run directory.
type State struct {
	Sandbox    SandboxState     `json:"sandbox"`
	Containers []ContainerState `json:"containers"`
}

// SandboxState is the infra process and the namespace files containers join.
type SandboxState struct {
	ID       string    `json:"id"`
	ShimPid  int       `json:"shimPid"`
	PausePid int       `json:"pausePid"`
	Created  time.Time `json:"created"`
	// Namespaces maps "network", "uts", "ipc" and "pid" (OCI names) to the path a container joins;
	// a missing kind is the host's (or, for pid without sharing, the container's own).
	Namespaces map[string]string `json:"namespaces"`
	// ShmPath is the pod's /dev/shm to bind into containers.
	ShmPath string `json:"shmPath"`
	// PauseExited is set when the infra process died (the pod's namespaces may be gone with it).
	PauseExited bool `json:"pauseExited,omitempty"`
}

// ContainerState is what the agent needs for a container status.
type ContainerState struct {
	ID       string    `json:"id"`
	Status   string    `json:"status"`
	Pid      int       `json:"pid,omitempty"`
	LogPath  string    `json:"logPath"`
	Created  time.Time `json:"created"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	ExitCode int       `json:"exitCode"`
	// Signal is the signal that ended the container's init, 0 for a normal exit (ExitCode is then 128+Signal).
	Signal int `json:"signal,omitempty"`
	// OOMKilled is set when the kernel's OOM killer killed a process of the container's memory cgroup.
	OOMKilled bool `json:"oomKilled,omitempty"`
}
