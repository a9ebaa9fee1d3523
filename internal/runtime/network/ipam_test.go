package network

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func testIPAM(t *testing.T, dir, cidr string) *ipam {
	t.Helper()
	p := netip.MustParsePrefix(cidr)
	return newIPAM(dir, p, p.Addr().Next())
}

func TestIPAMNeverHandsOutReservedAddresses(t *testing.T) {
	tests := []struct {
		cidr string
		want []string
	}{
		{"10.244.0.0/30", []string{"10.244.0.2"}},
		{"10.244.0.8/29", []string{"10.244.0.10", "10.244.0.11", "10.244.0.12", "10.244.0.13", "10.244.0.14"}},
	}
	for _, tc := range tests {
		t.Run(tc.cidr, func(t *testing.T) {
			a := testIPAM(t, t.TempDir(), tc.cidr)
			var got []string
			for i := range len(tc.want) {
				addr, err := a.Allocate(fmt.Sprint("pod", i))
				if err != nil {
					t.Fatalf("Allocate %d: %v", i, err)
				}
				got = append(got, addr.String())
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("allocated %v, want %v", got, tc.want)
			}
			if _, err := a.Allocate("one-too-many"); !errors.Is(err, ErrExhausted) {
				t.Errorf("Allocate on a full %s: %v, want ErrExhausted", tc.cidr, err)
			}
		})
	}
}

func TestIPAMPersistsAndReuses(t *testing.T) {
	dir := t.TempDir()
	a := testIPAM(t, dir, "10.244.0.0/29")
	first, err := a.Allocate("a")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := a.Allocate("a"); err != nil || again != first {
		t.Errorf("second Allocate(a) = %s, %v; want %s", again, err, first)
	}
	second, err := a.Allocate("b")
	if err != nil {
		t.Fatal(err)
	}

	// A new allocator on the same directory, as after a restart.
	b := testIPAM(t, dir, "10.244.0.0/29")
	if got, err := b.Allocate("a"); err != nil || got != first {
		t.Errorf("after reload Allocate(a) = %s, %v; want %s", got, err, first)
	}
	third, err := b.Allocate("c")
	if err != nil {
		t.Fatal(err)
	}
	if third == first || third == second {
		t.Errorf("after reload c got %s, already held (a %s, b %s)", third, first, second)
	}

	// Release, then fill the range: the released address comes back once the others are used.
	if err := b.Release("b"); err != nil {
		t.Fatal(err)
	}
	if err := b.Release("never-allocated"); err != nil {
		t.Errorf("Release of an unknown ID: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, second.String())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("claim file of %s after Release: %v", second, err)
	}
	got := map[netip.Addr]bool{}
	for i := range 3 {
		addr, err := b.Allocate(fmt.Sprint("fill", i))
		if err != nil {
			t.Fatalf("Allocate fill%d: %v", i, err)
		}
		got[addr] = true
	}
	if !got[second] {
		t.Errorf("released %s not reused; got %v", second, got)
	}
	if _, err := b.Allocate("full"); !errors.Is(err, ErrExhausted) {
		t.Errorf("Allocate on a full range: %v, want ErrExhausted", err)
	}
}

func TestIPAMRecoversFromACrash(t *testing.T) {
	dir := t.TempDir()
	a := testIPAM(t, dir, "10.244.0.0/29")
	if _, err := a.Allocate("a"); err != nil {
		t.Fatal(err)
	}
	// A crash between creating and writing a claim leaves an empty file.
	torn := netip.MustParseAddr("10.244.0.5")
	if err := os.WriteFile(filepath.Join(dir, torn.String()), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	b := testIPAM(t, dir, "10.244.0.0/29")
	allocs, err := b.Allocations()
	if err != nil {
		t.Fatal(err)
	}
	if owner, ok := allocs[torn]; !ok || owner != "" {
		t.Errorf("torn claim %s: owner %q, present %v; want an unknown owner", torn, owner, ok)
	}
	for i := range 3 {
		addr, err := b.Allocate(fmt.Sprint("p", i))
		if err != nil {
			t.Fatal(err)
		}
		if addr == torn {
			t.Errorf("the torn claim's address %s was handed out", torn)
		}
	}
	if err := b.releaseOrphan(torn); err != nil {
		t.Fatal(err)
	}
	if addr, err := b.Allocate("after"); err != nil || addr != torn {
		t.Errorf("Allocate after releasing the orphan = %s, %v; want %s", addr, err, torn)
	}
}

func TestIPAMConcurrentAllocatorsNeverShareAnAddress(t *testing.T) {
	dir := t.TempDir()
	// Two allocators on one directory stand for two processes: only O_EXCL keeps them apart.
	allocators := []*ipam{testIPAM(t, dir, "10.244.0.0/26"), testIPAM(t, dir, "10.244.0.0/26")}
	const perAllocator = 40
	var mu sync.Mutex
	owners := map[netip.Addr]string{}
	var exhausted int
	var wg sync.WaitGroup
	for ai, a := range allocators {
		for i := range perAllocator {
			wg.Go(func() {
				id := fmt.Sprintf("a%d-%d", ai, i)
				addr, err := a.Allocate(id)
				mu.Lock()
				defer mu.Unlock()
				if errors.Is(err, ErrExhausted) {
					exhausted++
					return
				}
				if err != nil {
					t.Errorf("Allocate %s: %v", id, err)
					return
				}
				if other, dup := owners[addr]; dup {
					t.Errorf("%s and %s both got %s", id, other, addr)
				}
				owners[addr] = id
			})
		}
	}
	wg.Wait()
	// A /26 has 61 pod addresses; 80 requests must fill it exactly.
	if len(owners) != 61 || exhausted != 2*perAllocator-61 {
		t.Errorf("%d allocated, %d exhausted; want 61 and %d", len(owners), exhausted, 2*perAllocator-61)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 61 {
		t.Errorf("%d claim files, want 61", len(entries))
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"defaults", Config{}, false},
		{"pod CIDR equals cluster CIDR", Config{ClusterCIDR: netip.MustParsePrefix("10.1.0.0/24"), PodCIDR: netip.MustParsePrefix("10.1.0.0/24")}, true},
		{"pod CIDR outside cluster CIDR", Config{PodCIDR: netip.MustParsePrefix("10.43.0.0/24")}, true},
		{"pod CIDR too small", Config{PodCIDR: netip.MustParsePrefix("10.42.0.0/31")}, true},
		{"IPv6", Config{ClusterCIDR: netip.MustParsePrefix("fd00::/48"), PodCIDR: netip.MustParsePrefix("fd00::/64")}, true},
		{"long bridge name", Config{Bridge: "a-very-long-bridge"}, true},
		{"relative state dir", Config{StateDir: "state"}, true},
		{"IPv6 node IP", Config{NodeIPs: []netip.Addr{netip.MustParseAddr("::1")}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if (err != nil) != tc.wantErr {
				t.Errorf("New(%+v) error = %v, want error %v", tc.cfg, err, tc.wantErr)
			}
		})
	}
}

func TestHostPortComment(t *testing.T) {
	tests := []PortMapping{
		{Protocol: TCP, ContainerPort: 80, HostPort: 8080},
		{Protocol: SCTP, ContainerPort: 1, HostPort: 65535, HostIP: netip.MustParseAddr("192.0.2.7")},
	}
	for _, m := range tests {
		id := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		c := hostPortComment(id, m)
		if len(c) > 128 {
			t.Errorf("comment %q longer than nftables' 128 bytes", c)
		}
		got, ok := parseHostPortComment(c)
		want := m
		want.ContainerPort = 0 // not in the comment: the rule itself holds it
		if !ok || got.podID != id || got.mapping != want {
			t.Errorf("parse(%q) = %+v, %v; want %s %+v", c, got, ok, id, want)
		}
	}
}
