package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// mirror counts an informer's callbacks and flags any that a lossless, duplicate-free stream cannot produce.
type mirror struct {
	mu                     sync.Mutex
	adds, updates, deletes int
	problems               []string
	resourceVersionsByName map[string]string
}

func newMirror() *mirror { return &mirror{resourceVersionsByName: map[string]string{}} }

func (m *mirror) handler() cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			pod := obj.(*corev1.Pod)
			m.mu.Lock()
			defer m.mu.Unlock()
			m.adds++
			if _, seen := m.resourceVersionsByName[pod.Name]; seen {
				m.problems = append(m.problems, "duplicate add of "+pod.Name)
			}
			m.resourceVersionsByName[pod.Name] = pod.ResourceVersion
		},
		UpdateFunc: func(oldObj, newObj any) {
			prev, pod := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
			m.mu.Lock()
			defer m.mu.Unlock()
			m.updates++
			// A relist delivers every object again as an update with an unchanged resourceVersion.
			if prev.ResourceVersion == pod.ResourceVersion {
				m.problems = append(m.problems, fmt.Sprintf("update of %s without a change (resourceVersion %s): a relist or a duplicate", pod.Name, pod.ResourceVersion))
			}
			m.resourceVersionsByName[pod.Name] = pod.ResourceVersion
		},
		DeleteFunc: func(obj any) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.deletes++
			pod, ok := obj.(*corev1.Pod)
			if !ok {
				m.problems = append(m.problems, fmt.Sprintf("delete seen only as a tombstone (%T): a watch event was lost", obj))
				return
			}
			delete(m.resourceVersionsByName, pod.Name)
		},
	}
}

// snapshot returns name -> resourceVersion of the mirror.
func (m *mirror) snapshot() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]string, len(m.resourceVersionsByName))
	for k, v := range m.resourceVersionsByName {
		out[k] = v
	}
	return out
}

// TestInformerMirrorAcrossRestart keeps a client-go informer running while the server restarts on the same data
// directory and port: the informer must resume from its resourceVersion, see every change exactly once, and
// never relist.
func TestInformerMirrorAcrossRestart(t *testing.T) {
	srv := startServer(t)
	ns := srv.namespace(t, "mirror")
	client := srv.client(t)
	ctx := context.Background()
	const initial = 20
	for i := range initial {
		if _, err := client.CoreV1().Pods(ns).Create(ctx, busyboxPod(fmt.Sprintf("p%02d", i), nil), metav1.CreateOptions{}); err != nil {
			t.Fatalf("create: %v", err)
		}
	}

	m := newMirror()
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns))
	informer := factory.Core().V1().Pods().Informer()
	if _, err := informer.AddEventHandler(m.handler()); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer func() { close(stop); factory.Shutdown() }()
	factory.Start(stop)
	syncCtx, cancel := context.WithTimeout(ctx, eventualTimeout)
	defer cancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), informer.HasSynced) {
		t.Fatal("informer did not sync")
	}

	// Changes before the restart.
	for i := range 5 {
		mergePatchLabel(t, srv, ns, fmt.Sprintf("p%02d", i), "round", "before")
	}
	waitMirror(t, srv, ns, m)

	srv.stop(t)
	srv.start(t)

	// Changes right after the restart, while the informer may still be backing off and reconnecting.
	for i := range 10 {
		if _, err := client.CoreV1().Pods(ns).Create(ctx, busyboxPod(fmt.Sprintf("q%02d", i), nil), metav1.CreateOptions{}); err != nil {
			t.Fatalf("create after restart: %v", err)
		}
	}
	for i := 5; i < 10; i++ {
		mergePatchLabel(t, srv, ns, fmt.Sprintf("p%02d", i), "round", "after")
	}
	for i := 10; i < 15; i++ {
		if err := client.CoreV1().Pods(ns).Delete(ctx, fmt.Sprintf("p%02d", i), metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete after restart: %v", err)
		}
	}
	waitMirror(t, srv, ns, m)

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.adds != initial+10 || m.updates != 10 || m.deletes != 5 {
		t.Errorf("callbacks: %d adds, %d updates, %d deletes; want %d, 10, 5", m.adds, m.updates, m.deletes, initial+10)
	}
	for _, p := range m.problems {
		t.Error(p)
	}
}

// waitMirror waits until the informer's view (name -> resourceVersion) equals a fresh list from the server.
func waitMirror(t *testing.T, srv *server, ns string, m *mirror) {
	t.Helper()
	client := srv.client(t)
	var want map[string]string
	eventually(t, "informer mirrors the server", func() (bool, error) {
		list, err := client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		want = map[string]string{}
		for _, p := range list.Items {
			want[p.Name] = p.ResourceVersion
		}
		got := m.snapshot()
		if len(got) != len(want) {
			return false, fmt.Errorf("mirror has %d pods, server %d", len(got), len(want))
		}
		for name, rv := range want {
			if got[name] != rv {
				return false, fmt.Errorf("%s: mirror resourceVersion %q, server %q", name, got[name], rv)
			}
		}
		return true, nil
	})
}

// TestObjectsSurviveRestart stores one object of each kind, restarts the server, and reads them back unchanged.
func TestObjectsSurviveRestart(t *testing.T) {
	srv := startServer(t)
	ns := srv.namespace(t, "survive")
	client := srv.client(t)
	ctx := context.Background()
	pod, err := client.CoreV1().Pods(ns).Create(ctx, busyboxPod("keep", map[string]string{"a": "b"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm, err := client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "keep"}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "keep"}, Data: map[string][]byte{"k": []byte("v")}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "keep-node", Labels: map[string]string{"gpu": "true"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	for _, restart := range []struct {
		name string
		stop func(*testing.T)
	}{{"SIGTERM", srv.stop}, {"SIGKILL", srv.kill}} {
		restart.stop(t)
		srv.start(t)
		client = srv.client(t)
		gotPod, err := client.CoreV1().Pods(ns).Get(ctx, "keep", metav1.GetOptions{})
		if err != nil || gotPod.UID != pod.UID || gotPod.ResourceVersion != pod.ResourceVersion || gotPod.Labels["a"] != "b" {
			t.Errorf("after %s: pod %+v (err %v), want uid %s resourceVersion %s", restart.name, gotPod.ObjectMeta, err, pod.UID, pod.ResourceVersion)
		}
		gotCM, err := client.CoreV1().ConfigMaps(ns).Get(ctx, "keep", metav1.GetOptions{})
		if err != nil || gotCM.UID != cm.UID || gotCM.Data["k"] != "v" {
			t.Errorf("after %s: configmap %+v (err %v)", restart.name, gotCM, err)
		}
		gotSecret, err := client.CoreV1().Secrets(ns).Get(ctx, "keep", metav1.GetOptions{})
		if err != nil || gotSecret.UID != secret.UID || string(gotSecret.Data["k"]) != "v" {
			t.Errorf("after %s: secret %+v (err %v)", restart.name, gotSecret.ObjectMeta, err)
		}
		gotNode, err := client.CoreV1().Nodes().Get(ctx, "keep-node", metav1.GetOptions{})
		if err != nil || gotNode.UID != node.UID || gotNode.Labels["gpu"] != "true" {
			t.Errorf("after %s: node %+v (err %v)", restart.name, gotNode.ObjectMeta, err)
		}
	}
	// The revision keeps growing after a restart: a new write is newer than everything stored before.
	newer, err := client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "newer"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if parseRV(t, newer.ResourceVersion) <= parseRV(t, node.ResourceVersion) {
		t.Errorf("resourceVersion after restart %s is not above %s from before", newer.ResourceVersion, node.ResourceVersion)
	}
}

func parseRV(t *testing.T, rv string) uint64 {
	t.Helper()
	var n uint64
	if _, err := fmt.Sscan(rv, &n); err != nil {
		t.Fatalf("resourceVersion %q is not a number: %v", rv, err)
	}
	return n
}

// TestKillDuringCreateBurst kills the server with SIGKILL while 8 clients create pods as fast as they can, then
// checks that every create the server acknowledged (201) is there after a restart.
func TestKillDuringCreateBurst(t *testing.T) {
	srv := startServer(t)
	ns := srv.namespace(t, "burst")
	client := srv.client(t)
	const workers = 8
	const beforeKill = 200 // acknowledged creates to wait for before the kill
	const maxPerWorker = 5000

	ctx, cancel := context.WithTimeout(context.Background(), eventualTimeout)
	defer cancel()
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	enough := make(chan struct{})
	var once sync.Once
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range maxPerWorker {
				name := fmt.Sprintf("burst-%d-%d", w, i)
				_, err := client.CoreV1().Pods(ns).Create(ctx, busyboxPod(name, nil), metav1.CreateOptions{})
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					// The server is gone: the outcome of this request is unknown, so it proves nothing.
					time.Sleep(10 * time.Millisecond)
					continue
				}
				mu.Lock()
				acked = append(acked, name)
				if len(acked) >= beforeKill {
					once.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		}()
	}
	select {
	case <-enough:
	case <-ctx.Done():
		t.Fatalf("fewer than %d creates acknowledged within %v", beforeKill, eventualTimeout)
	}
	srv.kill(t)
	// Let the workers see the dead server before they stop, then freeze the acknowledged set.
	time.Sleep(200 * time.Millisecond)
	cancel()
	wg.Wait()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("burst timed out")
	}

	srv.start(t)
	stored := podNames(t, srv, ns, "")
	var lost []string
	for _, name := range acked {
		if _, ok := slices.BinarySearch(stored, name); !ok {
			lost = append(lost, name)
		}
	}
	t.Logf("%d creates acknowledged before SIGKILL, %d pods stored after restart", len(acked), len(stored))
	if len(lost) > 0 {
		t.Errorf("%d acknowledged creates lost after SIGKILL: %q", len(lost), lost)
	}
	if len(stored) > len(acked)+workers {
		t.Errorf("%d pods stored but only %d acknowledged (+%d in flight)", len(stored), len(acked), workers)
	}
}
