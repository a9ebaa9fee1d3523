package api

import (
	"bytes"
	"runtime"
	"sync"
)

// minItemsPerWorker keeps small collections on one goroutine: below it, handing work out costs more than it
// saves.
const minItemsPerWorker = 256

// splitRanges cuts [0, n) into consecutive ranges, one per worker, with up to GOMAXPROCS workers.
func splitRanges(n int) [][2]int {
	workers := max(1, min(runtime.GOMAXPROCS(0), n/minItemsPerWorker))
	ranges := make([][2]int, workers)
	for w := range workers {
		ranges[w] = [2]int{n * w / workers, n * (w + 1) / workers}
	}
	return ranges
}

// inParallel calls fn once per range of splitRanges(n), each on its own goroutine, and returns the error of
// the lowest range that failed. Decoding and encoding the items of a large list is CPU-bound and independent
// per item, so a 10,000-pod list is served by every core, not one.
func inParallel(n int, fn func(worker, lo, hi int) error) error {
	ranges := splitRanges(n)
	if len(ranges) == 1 {
		return fn(0, 0, n)
	}
	errs := make([]error, len(ranges))
	var wg sync.WaitGroup
	for w, r := range ranges {
		wg.Go(func() { errs[w] = fn(w, r[0], r[1]) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// encodeItems appends the encodings of items 0..n-1 to buf, comma-separated and in order; each worker
// encodes its range into a buffer of its own.
func encodeItems(buf *bytes.Buffer, n int, encode func(buf *bytes.Buffer, i int) error) error {
	parts := make([]bytes.Buffer, len(splitRanges(n)))
	err := inParallel(n, func(w, lo, hi int) error {
		for i := lo; i < hi; i++ {
			if i > lo {
				parts[w].WriteByte(',')
			}
			if err := encode(&parts[w], i); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for w := range parts {
		if w > 0 && parts[w].Len() > 0 {
			buf.WriteByte(',')
		}
		buf.Write(parts[w].Bytes())
	}
	return nil
}
