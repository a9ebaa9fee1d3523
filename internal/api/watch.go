package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/peapod-dev/peapod/internal/registry"
	"github.com/peapod-dev/peapod/internal/storage"
)

// initialEventsEndAnnotation marks the bookmark that ends the initial events of a sendInitialEvents watch.
const initialEventsEndAnnotation = "k8s.io/initial-events-end"

// watch serves ?watch=true with Kubernetes' resourceVersion semantics: unset or "0" starts with a
// synthetic ADDED per current object, N replays every change after N; events are filtered by the
// selectors, turning updates that leave (enter) the selection into DELETED (ADDED).
func (h *handler) watch(w http.ResponseWriter, r *http.Request, rq *request) {
	out, err := negotiateOutput(r, targetWatch)
	if err != nil {
		writeError(w, r, err)
		return
	}
	opts, err := h.listOptions(rq.query)
	if err != nil {
		writeError(w, r, err)
		return
	}
	sel, err := h.selectionFor(rq.res, opts)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if rq.name != "" {
		sel.fields = fields.AndSelectors(sel.fields, fields.OneTermEqualSelector("metadata.name", rq.name))
	}
	sendInitial := opts.SendInitialEvents != nil && *opts.SendInitialEvents
	if sendInitial && !opts.AllowWatchBookmarks {
		writeError(w, r, apierrors.NewBadRequest("sendInitialEvents requires allowWatchBookmarks=true"))
		return
	}
	timeout := h.watchTimeout()
	if opts.TimeoutSeconds != nil && *opts.TimeoutSeconds > 0 {
		timeout = time.Duration(*opts.TimeoutSeconds) * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()

	prefix := collectionPrefix(rq.res, rq.namespace)
	var initial []runtime.Object
	var from int64
	if opts.ResourceVersion == "" || opts.ResourceVersion == "0" || sendInitial {
		list, err := h.listObjects(ctx, rq.res, rq.namespace, &metav1.ListOptions{}, sel)
		if err != nil {
			writeError(w, r, err)
			return
		}
		initial = list.items
		from, _ = strconv.ParseInt(list.meta.ResourceVersion, 10, 64)
	} else if from, err = strconv.ParseInt(opts.ResourceVersion, 10, 64); err != nil || from < 0 {
		writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version: %q", opts.ResourceVersion)))
		return
	}

	var watchOpts storage.WatchOptions
	if opts.AllowWatchBookmarks {
		watchOpts.ProgressInterval = int64(h.bookmarkInterval)
	}
	events, err := h.cfg.Store.Watch(ctx, prefix, from, watchOpts)
	var compacted *storage.CompactedError
	if err != nil && !errors.As(err, &compacted) {
		writeError(w, r, storageError(err, rq.res, ""))
		return
	}

	h.metrics.watchers.WithLabelValues(rq.res.Name).Inc()
	defer h.metrics.watchers.WithLabelValues(rq.res.Name).Dec()
	stream := newEventStream(w, rq.res, out)
	if compacted != nil {
		// Kubernetes answers 200 and then one ERROR event: clients re-list on 410 Expired.
		_ = stream.writeStatus(storageError(compacted, rq.res, ""))
		return
	}
	for _, obj := range initial {
		if stream.write("ADDED", obj) != nil {
			return
		}
	}
	if sendInitial && stream.bookmark(from, true) != nil {
		return
	}

	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok || h.sendEvent(stream, rq.res, sel, ev, opts.AllowWatchBookmarks) != nil {
				return
			}
		}
	}
}

// sendEvent translates one storage event into the watch event the client should see, if any. An error
// ends the stream.
func (h *handler) sendEvent(stream *eventStream, res *registry.Resource, sel selection, ev storage.Event, bookmarks bool) error {
	switch ev.Type {
	case storage.EventProgress:
		if bookmarks {
			return stream.bookmark(ev.Revision, false)
		}
		return nil
	case storage.EventError:
		if errors.Is(ev.Err, storage.ErrWatchTooSlow) {
			return ev.Err // end the stream; the client re-watches from its last resourceVersion
		}
		_ = stream.writeStatus(storageError(ev.Err, res, ""))
		return ev.Err
	case storage.EventDelete:
		obj, err := h.codec.decode(res, ev.KV)
		if err != nil {
			return stream.writeStatus(apierrors.NewInternalError(err))
		}
		if !sel.matches(res, obj) {
			return nil
		}
		return stream.write("DELETED", obj)
	}

	obj, err := h.codec.decode(res, ev.KV)
	if err != nil {
		return stream.writeStatus(apierrors.NewInternalError(err))
	}
	matches := sel.matches(res, obj)
	if ev.PrevKV == nil {
		if !matches {
			return nil
		}
		return stream.write("ADDED", obj)
	}
	if sel.everything() {
		return stream.write("MODIFIED", obj)
	}
	prev, err := h.codec.decode(res, storage.KeyValue{Key: ev.PrevKV.Key, Value: ev.PrevKV.Value, ModRevision: ev.KV.ModRevision})
	if err != nil {
		return stream.writeStatus(apierrors.NewInternalError(err))
	}
	prevMatches := sel.matches(res, prev)
	switch {
	case matches && prevMatches:
		return stream.write("MODIFIED", obj)
	case matches:
		return stream.write("ADDED", obj)
	case prevMatches:
		// Left the selection: DELETED with the last matching state at this event's resourceVersion.
		return stream.write("DELETED", prev)
	}
	return nil
}

// eventStream writes newline-delimited watch events, flushing each.
type eventStream struct {
	w           http.ResponseWriter
	res         *registry.Resource
	out         output
	sentColumns bool
	buf         bytes.Buffer
}

func newEventStream(w http.ResponseWriter, res *registry.Resource, out output) *eventStream {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(http.StatusOK)
	s := &eventStream{w: w, res: res, out: out}
	s.flush() // clients consider the watch started once they have the headers
	return s
}

func (s *eventStream) flush() {
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
}

// write sends one event with obj in the negotiated form; a Table event carries columnDefinitions only
// the first time.
func (s *eventStream) write(eventType string, obj runtime.Object) error {
	data, err := encodeObject(s.res, obj, s.out, !s.sentColumns)
	if err != nil {
		return err
	}
	if s.out.kind == outputTable {
		s.sentColumns = true
	}
	return s.send(eventType, data)
}

// writeStatus sends an ERROR event carrying err's Status.
func (s *eventStream) writeStatus(err error) error {
	data, marshalErr := encodeStatus(errorStatus(err))
	if marshalErr != nil {
		return marshalErr
	}
	return s.send("ERROR", data)
}

// bookmark sends a BOOKMARK: an object of the watched kind carrying only metadata.resourceVersion (and the
// initial-events-end annotation after the initial events).
func (s *eventStream) bookmark(rev int64, initialEventsEnd bool) error {
	obj := s.res.New()
	obj.GetObjectKind().SetGroupVersionKind(s.res.GroupVersionKind())
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	accessor.SetResourceVersion(strconv.FormatInt(rev, 10))
	if initialEventsEnd {
		accessor.SetAnnotations(map[string]string{initialEventsEndAnnotation: "true"})
	}
	var data []byte
	switch s.out.kind {
	case outputTable:
		data, err = encodeTable(s.res, nil, metav1.ListMeta{ResourceVersion: accessor.GetResourceVersion()}, s.out, false)
	default:
		data, err = encodeObject(s.res, obj, s.out, false)
	}
	if err != nil {
		return err
	}
	return s.send("BOOKMARK", data)
}

func (s *eventStream) send(eventType string, object []byte) error {
	s.buf.Reset()
	s.buf.WriteString(`{"type":"`)
	s.buf.WriteString(eventType)
	s.buf.WriteString(`","object":`)
	s.buf.Write(object)
	s.buf.WriteString("}\n")
	if _, err := s.w.Write(s.buf.Bytes()); err != nil {
		return err
	}
	s.flush()
	return nil
}
