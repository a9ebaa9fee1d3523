package bolt

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// crashDBEnv names the database a re-executed test binary writes to until it is killed.
const crashDBEnv = "PEAPOD_BOLT_CRASH_DB"

// crashSegmentEnv, if set, is the write-ahead log segment size of the child, in bytes.
const crashSegmentEnv = "PEAPOD_BOLT_CRASH_SEGMENT"

// TestCrashKeepsAcknowledgedWrites kills a process in the middle of concurrent creates with SIGKILL and
// checks that every create it acknowledged survived, and that the event log is whole: early, when the
// writes are only in the write-ahead log, and later, with checkpoints into bbolt and log segments rolling
// and being reused while the kill lands.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	tests := []struct {
		name        string
		killAfter   int
		segmentSize int
	}{
		{"before the first checkpoint", 500, 0},
		{"during checkpoints and segment reuse", 5000, 64 << 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { crashAndCheck(t, tc.killAfter, tc.segmentSize) })
	}
}

func crashAndCheck(t *testing.T, killAfter, segmentSize int) {
	path := filepath.Join(t.TempDir(), "db")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), crashDBEnv+"="+path, fmt.Sprintf("%s=%d", crashSegmentEnv, segmentSize))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("stdout pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	acked := map[string]int64{}
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		var (
			key string
			rev int64
		)
		if _, err := fmt.Sscanf(lines.Text(), "ack %s %d", &key, &rev); err != nil {
			continue // the test framework's own output
		}
		acked[key] = rev
		if len(acked) == killAfter {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatalf("kill child: %v", err)
			}
		}
	}
	// Lines printed before the kill are still in the pipe and were read above.
	waitErr := cmd.Wait()
	if len(acked) < killAfter {
		t.Fatalf("child acknowledged only %d creates before ending (%v)", len(acked), waitErr)
	}
	if !strings.Contains(fmt.Sprint(waitErr), "killed") {
		t.Fatalf("child ended with %v, want killed", waitErr)
	}

	s := openTest(t, path, Options{})
	for key, rev := range acked {
		kv, err := s.Get(t.Context(), key)
		if err != nil {
			t.Errorf("acknowledged create of %s at %d lost: %v", key, rev, err)
			continue
		}
		if kv.ModRevision != rev {
			t.Errorf("%s has revision %d, acknowledged %d", key, kv.ModRevision, rev)
		}
	}
	// Only creates happened: one key per revision, and a log entry for each.
	rev, _ := s.Revision(t.Context())
	n, err := s.Count(t.Context(), "/crash/")
	if err != nil || n != rev {
		t.Errorf("after the crash: %d keys (%v) at revision %d, want one key per revision", n, err, rev)
	}
	events, err := s.readLog(1, rev, "")
	if err != nil || int64(len(events)) != rev {
		t.Errorf("event log after the crash: %d events (%v), want %d", len(events), err, rev)
	}
	t.Logf("child acknowledged %d creates before SIGKILL; %d were stored", len(acked), rev)
}

// TestCrashChild is the process TestCrashKeepsAcknowledgedWrites kills. It creates keys from several
// goroutines and prints each acknowledged one, until killed or bounded out.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashDBEnv)
	if path == "" {
		t.Skip("run by TestCrashKeepsAcknowledgedWrites")
	}
	segmentSize, err := strconv.ParseInt(os.Getenv(crashSegmentEnv), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", crashSegmentEnv, err)
	}
	s, err := Open(t.Context(), path, Options{WALSegmentSize: segmentSize})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	const writers, perWriter = 16, 5_000
	var (
		wg  sync.WaitGroup
		out sync.Mutex
	)
	stdout := bufio.NewWriter(os.Stdout)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				key := fmt.Sprintf("/crash/%d/%d", w, i)
				rev, err := s.Create(t.Context(), key, []byte(strings.Repeat("v", 512)))
				if err != nil {
					t.Errorf("Create: %v", err)
					return
				}
				out.Lock()
				// Flushed at once: an acknowledgement the parent sees must really have been returned.
				fmt.Fprintf(stdout, "ack %s %d\n", key, rev)
				err = stdout.Flush()
				out.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
}
