package shim

import (
	"fmt"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// Pause is the pod's infra process. It runs in the namespaces the shim cloned it into, sets the pod's
// hostname in its UTS namespace (when it has its own), reports readiness on ready, then only reaps
// zombies (it is PID 1 of a shared PID namespace) until SIGTERM or SIGINT.
func Pause(hostname string, ready *os.File) error {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGCHLD)
	if hostname != "" {
		if err := unix.Sethostname([]byte(hostname)); err != nil {
			fmt.Fprintf(ready, "sethostname %q: %v\n", hostname, err)
			return fmt.Errorf("pause: sethostname: %w", err)
		}
	}
	if _, err := ready.Write([]byte("ok\n")); err != nil {
		return fmt.Errorf("pause: report ready: %w", err)
	}
	_ = ready.Close()
	for sig := range sigs {
		if sig != unix.SIGCHLD {
			return nil
		}
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
	return nil
}
