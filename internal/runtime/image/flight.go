package image

import (
	"context"
	"sync"
)

// flight runs one function per key at a time and hands its result to every caller that asked for the same key
// meanwhile. Unlike x/sync/singleflight, the shared work is cancelled only when every waiting caller has given
// up, so one impatient caller cannot fail a download that others still wait for.
type flight[T any] struct {
	mu    sync.Mutex
	calls map[string]*flightCall[T]
}

type flightCall[T any] struct {
	done    chan struct{}
	cancel  context.CancelFunc
	waiters int
	val     T
	err     error
}

// do returns fn's result for key and whether the call joined work another caller had started.
func (f *flight[T]) do(ctx context.Context, key string, fn func(context.Context) (T, error)) (T, bool, error) {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = make(map[string]*flightCall[T])
	}
	c, shared := f.calls[key]
	if !shared {
		cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c = &flightCall[T]{done: make(chan struct{}), cancel: cancel}
		f.calls[key] = c
		go func() {
			c.val, c.err = fn(cctx)
			f.mu.Lock()
			if f.calls[key] == c {
				delete(f.calls, key)
			}
			f.mu.Unlock()
			cancel()
			close(c.done)
		}()
	}
	c.waiters++
	f.mu.Unlock()

	select {
	case <-c.done:
		return c.val, shared, c.err
	case <-ctx.Done():
		f.mu.Lock()
		c.waiters--
		if c.waiters == 0 {
			// Nobody wants the result any more: stop the work, and let the next caller start afresh
			// rather than join a cancelled call.
			c.cancel()
			if f.calls[key] == c {
				delete(f.calls, key)
			}
		}
		f.mu.Unlock()
		var zero T
		return zero, shared, ctx.Err()
	}
}
