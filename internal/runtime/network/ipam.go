package network

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// ErrExhausted is returned (wrapped) by Attach when the pod CIDR has no free address left.
var ErrExhausted = errors.New("no free address in the pod CIDR")

// ipam hands out addresses of one prefix, one file per address named after it and holding the owner's ID.
// A claim is created with O_EXCL, so two allocators on the same directory never claim one address twice. A crash
// between creating and writing the file leaves an empty claim: its address stays taken until Reconcile releases
// it. The files are not fsynced: after a power loss every network namespace is gone too, and Reconcile releases
// what no live pod holds.
type ipam struct {
	dir     string
	prefix  netip.Prefix
	gateway netip.Addr

	mu     sync.Mutex
	loaded bool
	owner  map[netip.Addr]string // "" for a claim whose owner could not be read
	byID   map[string]netip.Addr
	cursor netip.Addr // where the next search starts, so a released address is not reused at once
}

func newIPAM(dir string, prefix netip.Prefix, gateway netip.Addr) *ipam {
	return &ipam{dir: dir, prefix: prefix, gateway: gateway}
}

// load reads the claims on disk once; the caller holds mu.
func (a *ipam) load() error {
	if a.loaded {
		return nil
	}
	if err := os.MkdirAll(a.dir, 0o700); err != nil {
		return fmt.Errorf("ipam: %w", err)
	}
	entries, err := os.ReadDir(a.dir)
	if err != nil {
		return fmt.Errorf("ipam: %w", err)
	}
	a.owner = make(map[netip.Addr]string, len(entries))
	a.byID = make(map[string]netip.Addr, len(entries))
	last := a.gateway
	for _, e := range entries {
		addr, err := netip.ParseAddr(e.Name())
		if err != nil || !a.prefix.Contains(addr) {
			continue
		}
		a.record(addr, a.readOwner(addr))
		if last.Less(addr) {
			last = addr
		}
	}
	a.cursor = last
	a.loaded = true
	return nil
}

func (a *ipam) path(addr netip.Addr) string { return filepath.Join(a.dir, addr.String()) }

func (a *ipam) readOwner(addr netip.Addr) string {
	b, err := os.ReadFile(a.path(addr))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (a *ipam) record(addr netip.Addr, id string) {
	a.owner[addr] = id
	if id != "" {
		a.byID[id] = addr
	}
}

// usable reports whether addr may go to a pod: inside the prefix, not its network, gateway or broadcast address.
func (a *ipam) usable(addr netip.Addr) bool {
	return a.prefix.Contains(addr) && addr != a.prefix.Addr() && addr != a.gateway && a.prefix.Contains(addr.Next())
}

// next steps the search cursor through the prefix, wrapping around.
func (a *ipam) next(addr netip.Addr) netip.Addr {
	n := addr.Next()
	if !a.prefix.Contains(n) {
		return a.prefix.Addr()
	}
	return n
}

// Allocate returns id's address, claiming a free one if id has none.
func (a *ipam) Allocate(id string) (netip.Addr, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.load(); err != nil {
		return netip.Addr{}, err
	}
	if addr, ok := a.byID[id]; ok {
		return addr, nil
	}

	size := 1 << (32 - a.prefix.Bits())
	addr := a.cursor
	for range size {
		addr = a.next(addr)
		if !a.usable(addr) {
			continue
		}
		if _, taken := a.owner[addr]; taken {
			continue
		}
		f, err := os.OpenFile(a.path(addr), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			// Another allocator on this directory claimed it first.
			a.record(addr, a.readOwner(addr))
			continue
		}
		if err != nil {
			return netip.Addr{}, fmt.Errorf("ipam: claim %s: %w", addr, err)
		}
		_, werr := f.WriteString(id + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(a.path(addr))
			return netip.Addr{}, fmt.Errorf("ipam: write claim %s: %w", addr, werr)
		}
		a.record(addr, id)
		a.cursor = addr
		return addr, nil
	}
	return netip.Addr{}, fmt.Errorf("ipam: %s: %w", a.prefix, ErrExhausted)
}

// Release frees id's address; releasing an ID that holds none is not an error.
func (a *ipam) Release(id string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.load(); err != nil {
		return err
	}
	addr, ok := a.byID[id]
	if !ok {
		return nil
	}
	// Another allocator may have released and reclaimed the address meanwhile: never remove its claim.
	if owner := a.readOwner(addr); owner == id {
		if err := os.Remove(a.path(addr)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("ipam: release %s: %w", addr, err)
		}
	}
	delete(a.byID, id)
	delete(a.owner, addr)
	return nil
}

// releaseOrphan frees a claim whose owner is unknown (its file was empty or unreadable).
func (a *ipam) releaseOrphan(addr netip.Addr) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if id, ok := a.owner[addr]; !ok || id != "" {
		return nil
	}
	// The claim may have been only half-written by another allocator a moment ago.
	if a.readOwner(addr) != "" {
		return nil
	}
	if err := os.Remove(a.path(addr)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("ipam: release %s: %w", addr, err)
	}
	delete(a.owner, addr)
	return nil
}

// Allocations returns a copy of the claims, owner "" for the unknown ones.
func (a *ipam) Allocations() (map[netip.Addr]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.load(); err != nil {
		return nil, err
	}
	out := make(map[netip.Addr]string, len(a.owner))
	for addr, id := range a.owner {
		out[addr] = id
	}
	return out, nil
}

// Destroy removes every claim and the directory.
func (a *ipam) Destroy() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := os.RemoveAll(a.dir); err != nil {
		return fmt.Errorf("ipam: %w", err)
	}
	// The parent holds the directories of other pod CIDRs, if any; it goes only when empty.
	os.Remove(filepath.Dir(a.dir))
	a.loaded = false
	a.owner, a.byID = nil, nil
	return nil
}
