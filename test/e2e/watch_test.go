package e2e

import (
	"bufio"
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestGetWatch runs `kubectl get pods -w --output-watch-events` in the background and checks that a pod's
// creation, relabelling and deletion each appear as a row.
func TestGetWatch(t *testing.T) {
	srv := startServer(t)
	forEachKubectl(t, srv, func(t *testing.T, k *kubectl) {
		client := srv.client(t)
		ctx := context.Background()
		if _, err := client.CoreV1().Pods(k.ns).Create(ctx, busyboxPod("w0", nil), metav1.CreateOptions{}); err != nil {
			t.Fatalf("create w0: %v", err)
		}

		watchCtx, cancel := context.WithTimeout(ctx, kubectlTimeout)
		defer cancel()
		cmd := k.command(watchCtx, "get", "pods", "-w", "--output-watch-events")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatalf("start kubectl get -w: %v", err)
		}
		lines := make(chan []string, 64)
		go readRows(stdout, lines)
		t.Cleanup(func() {
			cancel()
			_ = cmd.Wait()
		})

		next := func(what string) []string {
			t.Helper()
			select {
			case row, ok := <-lines:
				if !ok {
					t.Fatalf("kubectl get -w ended while waiting for %s; stderr: %s", what, stderr.String())
				}
				return row
			case <-watchCtx.Done():
				t.Fatalf("no %s from kubectl get -w within %v; stderr: %s", what, kubectlTimeout, stderr.String())
			}
			return nil
		}
		if header := next("header"); !slices.Equal(header, []string{"EVENT", "NAME", "READY", "STATUS", "RESTARTS", "AGE"}) {
			t.Fatalf("watch header %q", header)
		}
		if row := next("ADDED w0"); len(row) != 6 || row[0] != "ADDED" || row[1] != "w0" || row[3] != "Pending" {
			t.Fatalf("first watch row %q, want ADDED w0 ... Pending", row)
		}

		if _, err := client.CoreV1().Pods(k.ns).Create(ctx, busyboxPod("w1", nil), metav1.CreateOptions{}); err != nil {
			t.Fatalf("create w1: %v", err)
		}
		mergePatchLabel(t, srv, k.ns, "w1", "stage", "labelled")
		if err := client.CoreV1().Pods(k.ns).Delete(ctx, "w1", metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete w1: %v", err)
		}

		// In order: ADDED, at least one MODIFIED, then DELETED, each for w1 only.
		var events []string
		for !slices.Contains(events, "DELETED") {
			row := next("events of w1")
			if len(row) != 6 || row[1] != "w1" {
				t.Fatalf("unexpected watch row %q", row)
			}
			events = append(events, row[0])
		}
		if len(events) < 3 || events[0] != "ADDED" || events[1] != "MODIFIED" || events[len(events)-1] != "DELETED" {
			t.Errorf("watch events of w1: %q, want ADDED, MODIFIED..., DELETED", events)
		}
	})
}

// readRows sends each line of r, split into table cells, until r ends.
func readRows(r io.Reader, rows chan<- []string) {
	defer close(rows)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if cells := table(sc.Text()); len(cells) == 1 {
			rows <- cells[0]
		}
	}
}
