package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func TestPodTrafficIsRoutedNotNATed(t *testing.T) {
	requireRoot(t)
	n := setUp(t, testConfig(t, 25))
	_, pathA, a := newPod(t, n, "a")
	_, pathB, b := newPod(t, n, "b")
	echoSource(t, pathB, "pod-b", ":8080")
	server := netip.AddrPortFrom(b.IP, 8080).String()

	tests := []struct {
		name       string
		fromNetNS  string
		wantSource netip.Addr
	}{
		{"pod to pod", pathA, a.IP},
		{"node to pod", "", a.Gateway},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ask(tc.fromNetNS, server)
			if err != nil {
				t.Fatalf("connect to %s: %v", server, err)
			}
			if want := "pod-b " + tc.wantSource.String(); got != want {
				t.Errorf("server answered %q, want %q", got, want)
			}
		})
	}
}

func TestHostPort(t *testing.T) {
	requireRoot(t)
	n := setUp(t, testConfig(t, 25))
	hostPort := freeLoopbackPort(t)
	tcp := PortMapping{Protocol: TCP, ContainerPort: 8080, HostPort: hostPort}
	idB, pathB, b := newPod(t, n, "b", tcp)
	echoSource(t, pathB, "pod-b", ":8080")
	local := fmt.Sprintf("127.0.0.1:%d", hostPort)

	got, err := ask("", local)
	if err != nil {
		t.Fatalf("connect to hostPort %s: %v", local, err)
	}
	// The 127.0.0.1 source is masqueraded to the gateway, which the pod can answer.
	if want := "pod-b " + b.Gateway.String(); got != want {
		t.Errorf("hostPort %s answered %q, want %q", local, got, want)
	}

	conflicts := []struct {
		name    string
		mapping PortMapping
	}{
		{"same port", tcp},
		{"same port on 127.0.0.1", PortMapping{Protocol: TCP, ContainerPort: 80, HostPort: hostPort, HostIP: netip.MustParseAddr("127.0.0.1")}},
		{"same port on 0.0.0.0", PortMapping{Protocol: TCP, ContainerPort: 80, HostPort: hostPort, HostIP: netip.IPv4Unspecified()}},
	}
	for _, tc := range conflicts {
		t.Run("conflict/"+tc.name, func(t *testing.T) {
			id := testID(t, "c")
			path, err := n.NewNetNS(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { n.DeleteNetNS(context.Background(), id) })
			_, err = n.Attach(context.Background(), AttachRequest{ID: id, NetNSPath: path, HostPorts: []PortMapping{tc.mapping}})
			if err == nil {
				t.Fatalf("Attach with a taken hostPort succeeded")
			}
			for _, want := range []string{id, fmt.Sprintf("tcp/%s:%d", hostIPString(normalizePorts([]PortMapping{tc.mapping})[0].HostIP), hostPort), "already taken", idB} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			// The failed attempt leaves nothing behind.
			if _, err := netlink.LinkByName(vethName(id)); err == nil {
				t.Errorf("veth %s left after a failed Attach", vethName(id))
			}
			allocs, err := n.ipam.Allocations()
			if err != nil {
				t.Fatal(err)
			}
			for addr, owner := range allocs {
				if owner == id {
					t.Errorf("address %s still allocated to %s after a failed Attach", addr, id)
				}
			}
		})
	}

	t.Run("namespace as a container sees it", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"ip", "-4", "-o", "addr", "show", "dev", "eth0"}, fmt.Sprintf("inet %s/%d", b.IP, b.PrefixLen)},
			{[]string{"ip", "route", "show", "default"}, "default via " + b.Gateway.String() + " dev eth0"},
			{[]string{"ip", "-o", "link", "show", "lo"}, "state UNKNOWN"},
		} {
			out, err := exec.Command("nsenter", append([]string{"--net=" + pathB}, tc.args...)...).CombinedOutput()
			if err != nil || !strings.Contains(string(out), tc.want) {
				t.Errorf("nsenter %s: %q, %v; want %q", strings.Join(tc.args, " "), out, err, tc.want)
			}
		}
	})

	t.Run("other protocol on the same port", func(t *testing.T) {
		newPod(t, n, "udp", PortMapping{Protocol: UDP, ContainerPort: 53, HostPort: hostPort})
	})

	t.Run("gone after Detach", func(t *testing.T) {
		if err := n.Detach(context.Background(), idB); err != nil {
			t.Fatal(err)
		}
		if got, err := ask("", local); err == nil {
			t.Errorf("hostPort %s still answers %q after Detach", local, got)
		}
	})
}

// TestHostPortFromPods uses a node address inside the test's cluster CIDR, so that a packet the DNAT missed hits
// the unreachable route instead of leaving the machine.
func TestHostPortFromPods(t *testing.T) {
	requireRoot(t)
	cfg := testConfig(t, 25)
	b4 := cfg.ClusterCIDR.Addr().As4()
	b4[3] = 200
	nodeIP := netip.AddrFrom4(b4)
	cfg.NodeIPs = []netip.Addr{nodeIP}
	n := setUp(t, cfg)
	hostPort := freeLoopbackPort(t)
	_, pathA, _ := newPod(t, n, "a")
	_, pathB, b := newPod(t, n, "b", PortMapping{Protocol: TCP, ContainerPort: 8080, HostPort: hostPort})
	echoSource(t, pathB, "pod-b", ":8080")
	published := netip.AddrPortFrom(nodeIP, hostPort).String()

	for _, tc := range []struct {
		name, from string
	}{
		{"other pod", pathA},
		{"the pod itself", pathB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ask(tc.from, published)
			if err != nil {
				t.Fatalf("connect to %s: %v", published, err)
			}
			if want := "pod-b " + b.Gateway.String(); got != want {
				t.Errorf("%s answered %q, want %q", published, got, want)
			}
		})
	}
}

// TestPodCannotReachNodeLoopback checks the guard that route_localnet on the bridge needs (CVE-2020-8558): a pod
// that sends to 127.0.0.1 through its eth0 must not reach the node's loopback services.
func TestPodCannotReachNodeLoopback(t *testing.T) {
	requireRoot(t)
	n := setUp(t, testConfig(t, 25))
	_, path, _ := newPod(t, n, "evil")
	// What a pod with NET_ADMIN does to send 127.0.0.1 out of eth0; the namespace goes with the test.
	for _, args := range [][]string{
		{"sysctl", "-qw", "net.ipv4.conf.eth0.route_localnet=1"},
		{"ip", "address", "flush", "dev", "lo"},
		{"ip", "route", "add", "127.0.0.1/32", "dev", "eth0", "via", n.Config().gateway().String(), "onlink"},
	} {
		if out, err := exec.Command("nsenter", append([]string{"--net=" + path}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("nsenter %v: %v\n%s", args, err, out)
		}
	}
	listener := echoSource(t, "", "node-loopback", "127.0.0.1:0")
	if got, err := ask(path, listener.String()); err == nil {
		t.Errorf("pod reached the node's %s: %q", listener, got)
	}
}

func TestAttachErrorsNameThePodAndStep(t *testing.T) {
	requireRoot(t)
	n := setUp(t, testConfig(t, 25))
	id := testID(t, "bad")
	tests := []struct {
		name string
		req  AttachRequest
		want string
	}{
		{"no netns", AttachRequest{ID: id, NetNSPath: filepath.Join(t.TempDir(), "missing")}, "open netns"},
		{"port 0", AttachRequest{ID: id, NetNSPath: "/proc/self/ns/net", HostPorts: []PortMapping{{Protocol: TCP, ContainerPort: 80}}}, "ports must not be 0"},
		{"bad protocol", AttachRequest{ID: id, NetNSPath: "/proc/self/ns/net", HostPorts: []PortMapping{{Protocol: "icmp", ContainerPort: 80, HostPort: 80}}}, "protocol"},
		{"host IP not the node's", AttachRequest{ID: id, NetNSPath: "/proc/self/ns/net", HostPorts: []PortMapping{
			{Protocol: TCP, ContainerPort: 80, HostPort: 80, HostIP: netip.MustParseAddr("192.0.2.99")}}}, "neither one of the node IPs"},
		{"twice the same", AttachRequest{ID: id, NetNSPath: "/proc/self/ns/net", HostPorts: []PortMapping{
			{Protocol: TCP, ContainerPort: 80, HostPort: 80}, {Protocol: TCP, ContainerPort: 81, HostPort: 80}}}, "requested twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := n.Attach(context.Background(), tc.req)
			if err == nil || !strings.Contains(err.Error(), id) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Attach error = %v, want one naming %s and %q", err, id, tc.want)
			}
		})
	}
	if _, err := n.Attach(context.Background(), AttachRequest{ID: "../x", NetNSPath: "/proc/self/ns/net"}); err == nil {
		t.Error("Attach accepted the ID ../x")
	}
}

func TestConcurrentAttachGivesDistinctAddresses(t *testing.T) {
	requireRoot(t)
	n := setUp(t, testConfig(t, 25))
	const pods = 12
	ids := make([]string, pods)
	paths := make([]string, pods)
	for i := range pods {
		ids[i] = testID(t, fmt.Sprint(i))
		path, err := n.NewNetNS(context.Background(), ids[i])
		if err != nil {
			t.Fatal(err)
		}
		paths[i] = path
		t.Cleanup(func() { n.DeleteNetNS(context.Background(), ids[i]) })
	}
	atts := make([]Attachment, pods)
	errs := make([]error, pods)
	var wg sync.WaitGroup
	for i := range pods {
		wg.Go(func() {
			atts[i], errs[i] = n.Attach(context.Background(), AttachRequest{ID: ids[i], NetNSPath: paths[i]})
		})
	}
	wg.Wait()
	seen := map[netip.Addr]string{}
	for i, att := range atts {
		if errs[i] != nil {
			t.Fatalf("Attach %s: %v", ids[i], errs[i])
		}
		if other, dup := seen[att.IP]; dup {
			t.Errorf("%s and %s both got %s", ids[i], other, att.IP)
		}
		seen[att.IP] = ids[i]
	}
}

func TestStateSurvivesANewNetworkValue(t *testing.T) {
	requireRoot(t)
	cfg := testConfig(t, 25)
	first := setUp(t, cfg)
	hostPort := freeLoopbackPort(t)
	idA, pathA, a := newPod(t, first, "a", PortMapping{Protocol: TCP, ContainerPort: 80, HostPort: hostPort})

	// The agent restarts: a new Network on the same state, the pod's namespace and veth still there.
	second, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Ensure(context.Background()); err != nil {
		t.Fatalf("Ensure again: %v", err)
	}
	echoSource(t, pathA, "pod-a", ":80")
	if got, err := ask("", fmt.Sprintf("127.0.0.1:%d", hostPort)); err != nil || !strings.HasPrefix(got, "pod-a ") {
		t.Errorf("hostPort after a second Ensure: %q, %v", got, err)
	}
	_, _, b := newPod(t, second, "b")
	if b.IP == a.IP {
		t.Errorf("pod b got pod a's address %s from the reloaded state", a.IP)
	}
	again, err := second.Attach(context.Background(), AttachRequest{ID: idA, NetNSPath: pathA, HostPorts: []PortMapping{{Protocol: TCP, ContainerPort: 80, HostPort: hostPort}}})
	if err != nil {
		t.Fatalf("re-Attach a: %v", err)
	}
	if again.IP != a.IP {
		t.Errorf("re-Attach gave a %s, first Attach %s", again.IP, a.IP)
	}
	idC := testID(t, "c")
	pathC, err := second.NewNetNS(context.Background(), idC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.DeleteNetNS(context.Background(), idC) })
	_, err = second.Attach(context.Background(), AttachRequest{ID: idC, NetNSPath: pathC, HostPorts: []PortMapping{{Protocol: TCP, ContainerPort: 80, HostPort: hostPort}}})
	if err == nil || !strings.Contains(err.Error(), idA) {
		t.Errorf("a hostPort taken before the restart: Attach error %v, want one naming %s", err, idA)
	}

	// Pod a ended while the agent was down.
	third, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	bID := ""
	allocs, _ := third.ipam.Allocations()
	for addr, id := range allocs {
		if addr == b.IP {
			bID = id
		}
	}
	if err := third.Reconcile(context.Background(), []string{bID}); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if _, err := netlink.LinkByName(vethName(idA)); err == nil {
		t.Errorf("Reconcile left the veth of a")
	}
	if _, err := netlink.LinkByName(vethName(bID)); err != nil {
		t.Errorf("Reconcile removed the live pod's veth: %v", err)
	}
	if isNetNS(pathA) || !isNetNS(third.NetNSPath(bID)) {
		t.Errorf("after Reconcile: a's netns mounted %v (want false), b's %v (want true)", isNetNS(pathA), isNetNS(third.NetNSPath(bID)))
	}
	allocs, _ = third.ipam.Allocations()
	if want := map[netip.Addr]string{b.IP: bID}; fmt.Sprint(allocs) != fmt.Sprint(want) {
		t.Errorf("allocations after Reconcile = %v, want %v", allocs, want)
	}
	if out := nftList(t, cfg.Table); strings.Contains(out, idA) {
		t.Errorf("Reconcile left a's hostPort rule:\n%s", out)
	}
}

func TestEnsureInstallsRouteAndMasquerade(t *testing.T) {
	requireRoot(t)
	cfg := testConfig(t, 25)
	cfg.NodeIPs = []netip.Addr{netip.MustParseAddr("192.0.2.200")}
	n := setUp(t, cfg)
	// Ensure is idempotent: a second run leaves the same table.
	before := nftList(t, cfg.Table)
	if err := n.Ensure(context.Background()); err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	after := nftList(t, cfg.Table)
	if before != after {
		t.Errorf("second Ensure changed the table:\n%s\nto\n%s", before, after)
	}

	for _, want := range []string{
		fmt.Sprintf("ip saddr %s ip daddr != %s masquerade", cfg.PodCIDR, cfg.ClusterCIDR),
		fmt.Sprintf(`oifname "%s" ip saddr 127.0.0.0/8 masquerade`, cfg.Bridge),
		"ip daddr 192.0.2.200 jump hostports",
		"ip daddr 127.0.0.1 jump hostports",
		fmt.Sprintf(`oifname "%s" ip saddr %s ct status dnat masquerade`, cfg.Bridge, cfg.PodCIDR),
		fmt.Sprintf(`iifname "%s" ip daddr 127.0.0.0/8 ct status ! dnat drop`, cfg.Bridge),
	} {
		if !strings.Contains(after, want) {
			t.Errorf("table lacks %q:\n%s", want, after)
		}
	}

	routes, err := netlink.RouteListFiltered(unix.AF_INET, &netlink.Route{Dst: prefixToIPNet(cfg.ClusterCIDR), Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_DST|netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) != 1 || routes[0].Type != unix.RTN_UNREACHABLE {
		t.Errorf("routes to %s = %v, want one unreachable", cfg.ClusterCIDR, routes)
	}
	// The node's own pod CIDR still goes to the bridge.
	br, err := netlink.LinkByName(cfg.Bridge)
	if err != nil {
		t.Fatal(err)
	}
	got, err := netlink.RouteGet(cfg.PodCIDR.Addr().Next().Next().AsSlice())
	if err != nil || len(got) != 1 || got[0].LinkIndex != br.Attrs().Index {
		t.Errorf("route to a pod address = %v, %v; want via %s", got, err, cfg.Bridge)
	}
	// In the cluster CIDR (a /24) but past this node's /25.
	b4 := cfg.ClusterCIDR.Addr().As4()
	b4[3] = 200
	outside := netip.AddrFrom4(b4)
	if _, err := netlink.RouteGet(outside.AsSlice()); !errors.Is(err, unix.EHOSTUNREACH) {
		t.Errorf("route to %s (cluster, not this node): %v, want EHOSTUNREACH", outside, err)
	}

	for _, sysctl := range []string{"net/ipv4/ip_forward", "net/ipv4/conf/" + cfg.Bridge + "/route_localnet"} {
		if b, err := os.ReadFile("/proc/sys/" + sysctl); err != nil || strings.TrimSpace(string(b)) != "1" {
			t.Errorf("%s = %q, %v; want 1", sysctl, b, err)
		}
	}
}

func TestDetachAndTeardownLeaveNothing(t *testing.T) {
	requireRoot(t)
	cfg := testConfig(t, 25)
	n := setUp(t, cfg)
	ctx := context.Background()
	hostPort := freeLoopbackPort(t)
	idA, pathA, _ := newPod(t, n, "a", PortMapping{Protocol: TCP, ContainerPort: 80, HostPort: hostPort})
	idB, pathB, _ := newPod(t, n, "b", PortMapping{Protocol: SCTP, ContainerPort: 80, HostPort: hostPort})
	// A pod whose Attach crashed right after the address was claimed.
	idC := testID(t, "c")
	if _, err := n.ipam.Allocate(idC); err != nil {
		t.Fatal(err)
	}

	for _, id := range []string{idA, idB, idC, idA} {
		if err := n.Detach(ctx, id); err != nil {
			t.Fatalf("Detach %s: %v", id, err)
		}
	}
	for _, id := range []string{idA, idB} {
		if _, err := netlink.LinkByName(vethName(id)); err == nil {
			t.Errorf("veth of %s left after Detach", id)
		}
	}
	if out := nftList(t, cfg.Table); strings.Contains(out, "dnat to") {
		t.Errorf("hostPort rules left after Detach:\n%s", out)
	}
	if entries, err := os.ReadDir(n.ipam.dir); err != nil || len(entries) != 0 {
		t.Errorf("IPAM files after Detach: %v, %v", entries, err)
	}

	for _, id := range []string{idA, idB, idA} {
		if err := n.DeleteNetNS(ctx, id); err != nil {
			t.Fatalf("DeleteNetNS %s: %v", id, err)
		}
	}
	mounts, err := os.ReadFile("/proc/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{pathA, pathB} {
		if strings.Contains(string(mounts), path) {
			t.Errorf("%s still mounted", path)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists: %v", path, err)
		}
	}

	for range 2 {
		if err := n.Teardown(ctx); err != nil {
			t.Fatalf("Teardown: %v", err)
		}
	}
	if _, err := netlink.LinkByName(cfg.Bridge); err == nil {
		t.Errorf("bridge %s left after Teardown", cfg.Bridge)
	}
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		for _, id := range []string{idA, idB} {
			if l.Attrs().Name == vethName(id) {
				t.Errorf("link %s left after Teardown", l.Attrs().Name)
			}
		}
	}
	out, err := exec.Command("nft", "list", "tables").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list tables: %v\n%s", err, out)
	}
	if strings.Contains(string(out), cfg.Table) {
		t.Errorf("table %s left after Teardown:\n%s", cfg.Table, out)
	}
	routes, err := netlink.RouteListFiltered(unix.AF_INET, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatal(err)
	}
	if routeOverlaps(routes, cfg.ClusterCIDR) {
		t.Errorf("routes into %s left after Teardown", cfg.ClusterCIDR)
	}
	if entries, err := os.ReadDir(cfg.StateDir); err != nil || len(entries) != 0 {
		t.Errorf("state left in %s after Teardown: %v, %v", cfg.StateDir, entries, err)
	}
}

func TestNetNS(t *testing.T) {
	requireRoot(t)
	n, err := New(Config{StateDir: t.TempDir(), NetNSDir: testNetNSDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id := testID(t, "ns")
	t.Cleanup(func() { n.DeleteNetNS(ctx, id) })

	// A crash between creating the mount point and mounting on it leaves an empty file.
	if err := n.ensureNetNSDir(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(n.NetNSPath(id), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	path, err := n.NewNetNS(ctx, id)
	if err != nil {
		t.Fatalf("NewNetNS over a leftover file: %v", err)
	}
	again, err := n.NewNetNS(ctx, id)
	if err != nil || again != path {
		t.Fatalf("second NewNetNS = %q, %v; want %q", again, err, path)
	}
	var first, second unix.Stat_t
	if err := unix.Stat(path, &first); err != nil {
		t.Fatal(err)
	}
	// No thread of this process is left in the new namespace.
	threads, err := filepath.Glob("/proc/self/task/*/ns/net")
	if err != nil || len(threads) == 0 {
		t.Fatalf("list threads: %v", err)
	}
	for _, thread := range threads {
		var st unix.Stat_t
		if err := unix.Stat(thread, &st); err == nil && st.Ino == first.Ino {
			t.Errorf("thread %s is in the new namespace", thread)
		}
	}
	// The bind mount is the namespace: entering it gives the same one.
	if err := inNetNS(path, func() error { return unix.Stat("/proc/thread-self/ns/net", &second) }); err != nil {
		t.Fatal(err)
	}
	if second.Ino != first.Ino {
		t.Errorf("entering %s gave namespace %d, want %d", path, second.Ino, first.Ino)
	}

	if _, err := n.NewNetNS(ctx, "a/b"); err == nil {
		t.Error("NewNetNS accepted the ID a/b")
	}
	for range 2 {
		if err := n.DeleteNetNS(ctx, id); err != nil {
			t.Fatalf("DeleteNetNS: %v", err)
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s left after DeleteNetNS: %v", path, err)
	}
}

// nftList returns `nft list table ip <table>`.
func nftList(t testing.TB, table string) string {
	t.Helper()
	out, err := exec.Command("nft", "list", "table", "ip", table).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list table ip %s: %v\n%s", table, err, out)
	}
	return string(out)
}
