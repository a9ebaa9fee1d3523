// Package controllertest holds what the controllers' tests share: running a controller against a fake
// kube.Interface with bounded shutdown, polling for a condition, and a silent logger.
package controllertest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/peapod-dev/peapod/internal/kube"
)

// DiscardLogger returns a logger that writes nothing.
func DiscardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Start starts factory's informers and run (a controller's Run) and returns a stop function that cancels
// them, waits at most 10 s for run to return, and shuts the factory down. Controllers must be built on
// factory before Start so their informers are started.
func Start(t *testing.T, factory *kube.InformerFactory, run func(ctx context.Context)) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(ctx)
	}()
	return func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
		factory.Shutdown()
	}
}

// Eventually polls cond every 10 ms for at most 10 s and fails the test if it never holds.
func Eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting until %s", what)
}
