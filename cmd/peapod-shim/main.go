// Command peapod-shim is peapod's per-pod monitor and infra process, kept apart from the peapod binary so
// that each pod costs a small executable's memory instead of peapod's:
//
//	peapod-shim serve RUNDIR     the pod's monitor (started by the agent, see internal/runtime/shim)
//	peapod-shim pause [HOSTNAME] the pod's infra process (started by the monitor in the pod's namespaces)
//
// Both report readiness on file descriptor 3.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/peapod-dev/peapod/internal/runtime/shim"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: peapod-shim serve RUNDIR | pause [HOSTNAME]")
		os.Exit(2)
	}
	// A small heap goal: the default (4 MB before the first collection) would be paid twice by every pod.
	debug.SetGCPercent(20)
	ready := os.NewFile(3, "ready")
	var err error
	switch os.Args[1] {
	case "pause":
		hostname := ""
		if len(os.Args) > 2 {
			hostname = os.Args[2]
		}
		err = shim.Pause(hostname, ready)
	case "serve":
		if len(os.Args) != 3 {
			fmt.Fprintln(os.Stderr, "usage: peapod-shim serve RUNDIR")
			os.Exit(2)
		}
		var self string
		if self, err = os.Executable(); err == nil {
			err = shim.Serve(context.Background(), self, os.Args[2], ready)
		}
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "peapod-shim:", err)
		os.Exit(1)
	}
}
