package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates bridges, network namespaces and nftables tables")
	}
	if _, err := os.Stat("/proc/sys/net/ipv4/ip_forward"); err != nil {
		t.Skipf("no IPv4 networking sysctls: %v", err)
	}
}

// testConfig picks a 10.244.<n>.0/24 cluster CIDR that no route on this machine touches, a bridge and a table
// of the test's own, with a pod CIDR of podBits inside it.
func testConfig(t testing.TB, podBits int) Config {
	t.Helper()
	routes, err := netlink.RouteListFiltered(unix.AF_INET, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatalf("list routes: %v", err)
	}
	start := 100 + rand.IntN(150)
	for i := range 150 {
		n := 100 + (start-100+i)%150
		cluster := netip.MustParsePrefix(fmt.Sprintf("10.244.%d.0/24", n))
		if routeOverlaps(routes, cluster) {
			continue
		}
		bridge := fmt.Sprintf("ppt%d", n)
		if _, err := netlink.LinkByName(bridge); err == nil {
			continue
		}
		return Config{
			NetNSDir:    testNetNSDir(t),
			Bridge:      bridge,
			ClusterCIDR: cluster,
			PodCIDR:     netip.PrefixFrom(cluster.Addr(), podBits),
			StateDir:    t.TempDir(),
			Table:       fmt.Sprintf("peapod-test-%d", n),
		}
	}
	t.Fatal("no free 10.244.x.0/24 for the test")
	return Config{}
}

// testNetNSDir is a NetNSDir of the test's own, so that nothing a test does (Reconcile included) touches the
// node's /run/netns. NewNetNS makes it a mount point; it is unmounted when the test ends.
func testNetNSDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "netns")
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

func routeOverlaps(routes []netlink.Route, p netip.Prefix) bool {
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		addr, ok := netip.AddrFromSlice(r.Dst.IP)
		ones, _ := r.Dst.Mask.Size()
		if ok && ones > 0 && netip.PrefixFrom(addr.Unmap(), ones).Overlaps(p) {
			return true
		}
	}
	return false
}

// setUp returns an Ensured Network that is torn down, with ip_forward restored, when the test ends.
func setUp(t testing.TB, cfg Config) *Network {
	t.Helper()
	restoreSysctl(t, "net/ipv4/ip_forward")
	n, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Teardown(context.Background()); err != nil {
			t.Errorf("Teardown: %v", err)
		}
	})
	if err := n.Ensure(context.Background()); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	return n
}

// restoreSysctl puts a sysctl back to its value at the start of the test.
func restoreSysctl(t testing.TB, name string) {
	t.Helper()
	path := "/proc/sys/" + name
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(path, old, 0o644); err != nil {
			t.Errorf("restore %s: %v", path, err)
		}
	})
}

// testID is a pod ID unique to this test run.
func testID(t testing.TB, name string) string {
	t.Helper()
	return fmt.Sprintf("t%d-%s-%d", os.Getpid(), name, rand.IntN(1<<30))
}

// newPod creates a network namespace (deleted when the test ends) and attaches it.
func newPod(t testing.TB, n *Network, name string, ports ...PortMapping) (string, string, Attachment) {
	t.Helper()
	ctx := context.Background()
	id := testID(t, name)
	path, err := n.NewNetNS(ctx, id)
	if err != nil {
		t.Fatalf("NewNetNS: %v", err)
	}
	t.Cleanup(func() {
		if err := n.DeleteNetNS(context.Background(), id); err != nil {
			t.Errorf("DeleteNetNS: %v", err)
		}
	})
	att, err := n.Attach(ctx, AttachRequest{ID: id, NetNSPath: path, HostPorts: ports})
	if err != nil {
		t.Fatalf("Attach %s: %v", name, err)
	}
	return id, path, att
}

// inNetNS runs fn on a thread inside the network namespace at path. Sockets fn creates stay in that namespace.
func inNetNS(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := netns.GetFromPath(path)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- err
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// The thread stays locked and dies with this goroutine.
			errc <- errors.Join(ferr, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// echoSource listens on addr in the namespace at nsPath ("" for the node) and answers each connection with
// "<name> <the client's address as seen>". It stops when the test ends.
func echoSource(t testing.TB, nsPath, name, addr string) net.Addr {
	t.Helper()
	var ln net.Listener
	listen := func() (err error) { ln, err = net.Listen("tcp4", addr); return err }
	var err error
	if nsPath == "" {
		err = listen()
	} else {
		err = inNetNS(nsPath, listen)
	}
	if err != nil {
		t.Fatalf("listen %s in %s: %v", addr, name, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			src, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			c.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(c, "%s %s", name, src)
			c.Close()
		}
	}()
	return ln.Addr()
}

// ask connects to addr from the namespace at nsPath ("" for the node) and returns the server's answer.
func ask(nsPath, addr string) (string, error) {
	var conn net.Conn
	dial := func() (err error) { conn, err = net.DialTimeout("tcp4", addr, 3*time.Second); return err }
	var err error
	if nsPath == "" {
		err = dial()
	} else {
		err = inNetNS(nsPath, dial)
	}
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(3 * time.Second))
	b, err := io.ReadAll(conn)
	return strings.TrimSpace(string(b)), err
}

// freeLoopbackPort returns a TCP port nothing listens on at 127.0.0.1 right now, below the ephemeral range so
// that no other program's listener on port 0 gets it while the test's DNAT rule is in place.
func freeLoopbackPort(t testing.TB) uint16 {
	t.Helper()
	for range 100 {
		port := 20000 + rand.IntN(10000)
		ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			ln.Close()
			return uint16(port)
		}
	}
	t.Fatal("no free port in 20000-29999 on 127.0.0.1")
	return 0
}
