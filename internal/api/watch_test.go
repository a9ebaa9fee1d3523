package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/peapod-dev/peapod/internal/storage"
)

const eventWait = 10 * time.Second

// rawEvent is one line of a watch stream.
type rawEvent struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
	line   string
}

// object decodes the event's object as a pod (or any metadata-carrying type).
func (e rawEvent) pod(t *testing.T) corev1.Pod {
	t.Helper()
	var p corev1.Pod
	if err := json.Unmarshal(e.Object, &p); err != nil {
		t.Fatalf("decode %s: %v", e.Object, err)
	}
	return p
}

// watchStream opens a raw watch and returns its events, one per line; the stream closes with the test.
func (ts *testServer) watchStream(t *testing.T, path, accept string) <-chan rawEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.url+path, nil)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("watch %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("watch %s: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan rawEvent, 100)
	go func() {
		defer close(events)
		defer resp.Body.Close()
		scanner := bufio.NewScanner(resp.Body)
		scanner.Buffer(make([]byte, 1<<20), 1<<20)
		for scanner.Scan() {
			var ev rawEvent
			if err := json.Unmarshal(scanner.Bytes(), &ev); err != nil {
				ev = rawEvent{Type: "UNPARSABLE"}
			}
			ev.line = scanner.Text()
			select {
			case events <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return events
}

// expect reads the next events and checks their types and pod names.
func expect(t *testing.T, events <-chan rawEvent, want ...string) []rawEvent {
	t.Helper()
	var got []rawEvent
	for _, w := range want {
		wantType, wantName, _ := strings.Cut(w, " ")
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("stream ended, want %s", w)
			}
			if ev.Type != wantType {
				t.Fatalf("event %s, want %s", ev.line, w)
			}
			if wantName != "" {
				if name := ev.pod(t).Name; name != wantName {
					t.Fatalf("event %s for %s, want %s", ev.Type, name, w)
				}
			}
			got = append(got, ev)
		case <-time.After(eventWait):
			t.Fatalf("no event, want %s", w)
		}
	}
	return got
}

func expectNothing(t *testing.T, events <-chan rawEvent, wait time.Duration) {
	t.Helper()
	select {
	case ev, ok := <-events:
		if ok {
			t.Fatalf("unexpected event %s", ev.line)
		}
	case <-time.After(wait):
	}
}

func TestWatchFromZeroSendsCurrentStateThenChanges(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	ts.createPod("w1", nil)
	ts.createPod("w2", nil)
	events := ts.watchStream(t, "/api/v1/namespaces/default/pods?watch=true&resourceVersion=0", "")
	expect(t, events, "ADDED w1", "ADDED w2")
	ts.createPod("w3", nil)
	if _, err := ts.client.CoreV1().Pods("default").Patch(ctx, "w1", types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatalf("patch: %v", err)
	}
	if err := ts.client.CoreV1().Pods("default").Delete(ctx, "w2", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	got := expect(t, events, "ADDED w3", "MODIFIED w1", "MODIFIED w2", "DELETED w2")
	if got[1].pod(t).Labels["x"] != "y" {
		t.Errorf("MODIFIED carries the old object: %s", got[1].line)
	}
	if del := got[3].pod(t); del.ResourceVersion <= got[2].pod(t).ResourceVersion {
		t.Errorf("DELETED resourceVersion %s not after the last update %s", del.ResourceVersion, got[2].pod(t).ResourceVersion)
	}
}

func TestWatchFromListRevisionReplaysEveryChange(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	ts.createPod("before", nil)
	list, err := ts.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	// Changes between the list and the watch must not be lost.
	ts.createPod("between", nil)
	if err := ts.client.CoreV1().Pods("default").Delete(ctx, "before", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	w, err := ts.client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer w.Stop()
	want := []struct {
		typ  watch.EventType
		name string
	}{{watch.Added, "between"}, {watch.Modified, "before"}, {watch.Deleted, "before"}}
	for _, wnt := range want {
		select {
		case ev := <-w.ResultChan():
			pod, ok := ev.Object.(*corev1.Pod)
			if ev.Type != wnt.typ || !ok || pod.Name != wnt.name {
				t.Fatalf("event %s %v, want %s %s", ev.Type, ev.Object, wnt.typ, wnt.name)
			}
		case <-time.After(eventWait):
			t.Fatalf("no event, want %s %s", wnt.typ, wnt.name)
		}
	}
}

func TestWatchSelectorEnterAndLeave(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	pods := ts.client.CoreV1().Pods("default")
	ts.createPod("s", map[string]string{"app": "web"})
	ts.createPod("other", nil)
	events := ts.watchStream(t, "/api/v1/namespaces/default/pods?watch=1&labelSelector=app%3Dweb", "")
	expect(t, events, "ADDED s")
	patch := func(name, body string) {
		if _, err := pods.Patch(ctx, name, types.MergePatchType, []byte(body), metav1.PatchOptions{}); err != nil {
			t.Fatalf("patch: %v", err)
		}
	}
	patch("s", `{"metadata":{"labels":{"app":"db"}}}`)
	left := expect(t, events, "DELETED s")
	if p := left[0].pod(t); p.Labels["app"] != "web" || p.ResourceVersion == "" {
		t.Errorf("DELETED should carry the last matching state at the new revision: %s", left[0].line)
	}
	patch("other", `{"metadata":{"labels":{"unrelated":"x"}}}`)
	patch("other", `{"metadata":{"labels":{"app":"web"}}}`)
	expect(t, events, "ADDED other")
	patch("other", `{"metadata":{"annotations":{"a":"b"}}}`)
	expect(t, events, "MODIFIED other")
}

func TestWatchByNameSkipsOthers(t *testing.T) {
	ts := newTestServer(t)
	ts.createPod("mine", nil)
	events := ts.watchStream(t, "/api/v1/namespaces/default/pods?watch=true&fieldSelector=metadata.name%3Dmine&resourceVersion=0", "")
	expect(t, events, "ADDED mine")
	ts.createPod("notmine", nil)
	expectNothing(t, events, 300*time.Millisecond)
	legacy := ts.watchStream(t, "/api/v1/watch/namespaces/default/pods/mine", "")
	expect(t, legacy, "ADDED mine")
}

func TestWatchTable(t *testing.T) {
	ts := newTestServer(t)
	ts.createPod("tw1", nil)
	events := ts.watchStream(t, "/api/v1/namespaces/default/pods?watch=true&resourceVersion=0", kubectlTableAccept)
	ts.createPod("tw2", nil)
	for i, name := range []string{"tw1", "tw2"} {
		ev := expect(t, events, "ADDED")[0]
		var table metav1.Table
		if err := json.Unmarshal(ev.Object, &table); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if table.Kind != "Table" || len(table.Rows) != 1 || table.Rows[0].Cells[0] != name {
			t.Fatalf("event %s", ev.line)
		}
		if hasColumns := len(table.ColumnDefinitions) > 0; hasColumns != (i == 0) {
			t.Errorf("event %d has columns: %v", i, hasColumns)
		}
		if !strings.Contains(string(table.Rows[0].Object.Raw), `"kind":"PartialObjectMetadata"`) {
			t.Errorf("row object %s", table.Rows[0].Object.Raw)
		}
	}
}

func TestWatchBookmarksAndInitialEvents(t *testing.T) {
	ts := newTestServer(t)
	ts.handler.bookmarkInterval = 50 * time.Millisecond
	ts.createPod("bm", nil)
	events := ts.watchStream(t, "/api/v1/namespaces/default/pods?watch=true&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan", "")
	expect(t, events, "ADDED bm")
	end := expect(t, events, "BOOKMARK")[0].pod(t)
	if end.Annotations[initialEventsEndAnnotation] != "true" || end.ResourceVersion == "" || end.Name != "" {
		t.Errorf("initial-events-end bookmark %+v", end.ObjectMeta)
	}
	// Idle: periodic bookmarks.
	expect(t, events, "BOOKMARK")
}

func TestWatchCompactedRevisionIsGone(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	ts.createPod("c1", nil)
	ts.createPod("c2", nil)
	rev, err := ts.store.Revision(ctx)
	if err != nil {
		t.Fatalf("revision: %v", err)
	}
	if err := ts.store.Compact(ctx, rev); err != nil {
		t.Fatalf("compact: %v", err)
	}
	events := ts.watchStream(t, "/api/v1/namespaces/default/pods?watch=true&resourceVersion=1", "")
	ev := expect(t, events, "ERROR")[0]
	status := decodeStatus(t, ev.Object)
	if status.Code != 410 || status.Reason != metav1.StatusReasonExpired || !strings.HasPrefix(status.Message, "too old resource version: 1 (") {
		t.Errorf("status %s", ev.Object)
	}
	select {
	case _, ok := <-events:
		if ok {
			t.Errorf("stream continued after the ERROR event")
		}
	case <-time.After(eventWait):
		t.Errorf("stream did not end")
	}
}

func TestWatchTimeoutEndsStream(t *testing.T) {
	ts := newTestServer(t)
	events := ts.watchStream(t, "/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1", "")
	select {
	case _, ok := <-events:
		if ok {
			t.Fatalf("unexpected event")
		}
	case <-time.After(eventWait):
		t.Fatalf("watch did not end after timeoutSeconds")
	}
}

func TestWatchStorageErrors(t *testing.T) {
	ts := newTestServer(t)
	res := ts.handler.cfg.Registry.Resources[0]
	sel := selection{labels: labels.Everything(), fields: fields.Everything()}
	tests := []struct {
		name      string
		err       error
		wantLines string
	}{
		// The client re-watches from its last resourceVersion: no ERROR, just the end of the stream.
		{"too slow", storage.ErrWatchTooSlow, ""},
		{"other", errors.New("disk on fire"), `{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Internal error occurred: disk on fire","reason":"InternalError","details":{"causes":[{"message":"disk on fire"}]},"code":500}}` + "\n"},
	}
	for _, tc := range tests {
		rec := httptest.NewRecorder()
		stream := newEventStream(rec, res, output{})
		err := ts.handler.sendEvent(stream, res, sel, storage.Event{Type: storage.EventError, Err: tc.err}, false)
		if err == nil {
			t.Errorf("%s: the stream goes on", tc.name)
		}
		if rec.Body.String() != tc.wantLines {
			t.Errorf("%s: wrote %q, want %q", tc.name, rec.Body.String(), tc.wantLines)
		}
	}
}
