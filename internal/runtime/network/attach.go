package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

const podIfname = "eth0"

func (n *Network) validatePorts(ports []PortMapping) error {
	for i, m := range ports {
		if m.Protocol.number() == 0 {
			return fmt.Errorf("hostPort %s: protocol must be tcp, udp or sctp", m)
		}
		if m.HostPort == 0 || m.ContainerPort == 0 {
			return fmt.Errorf("hostPort %s: ports must not be 0", m)
		}
		if m.HostIP.IsValid() && !n.publishesOn(m.HostIP) {
			return fmt.Errorf("hostPort %s: host IP %s is neither one of the node IPs %v nor 127.0.0.1", m, m.HostIP, n.cfg.NodeIPs)
		}
		for _, o := range ports[:i] {
			if m.conflicts(o) {
				return fmt.Errorf("hostPort %s requested twice (also as %s)", m, o)
			}
		}
	}
	return nil
}

// publishesOn reports whether Ensure sends hostPort traffic for ip to the hostports chain.
func (n *Network) publishesOn(ip netip.Addr) bool {
	return ip == netip.AddrFrom4([4]byte{127, 0, 0, 1}) || slices.Contains(n.cfg.NodeIPs, ip)
}

// normalizePorts makes 0.0.0.0 the zero HostIP, as both mean every address.
func normalizePorts(ports []PortMapping) []PortMapping {
	out := make([]PortMapping, len(ports))
	for i, m := range ports {
		m.HostIP = m.HostIP.Unmap()
		if m.HostIP.IsUnspecified() {
			m.HostIP = netip.Addr{}
		}
		out[i] = m
	}
	return out
}

// Attach connects the network namespace at req.NetNSPath to the bridge: an address from the pod CIDR, a veth
// whose pod end is eth0 with a default route via the gateway, lo up, and the hostPorts. Attaching an ID again
// rebuilds its veth and hostPorts and keeps its address. On error nothing is left of the attempt, nor of an
// earlier Attach of the ID.
func (n *Network) Attach(ctx context.Context, req AttachRequest) (Attachment, error) {
	id := req.ID
	if err := validateID(id); err != nil {
		return Attachment{}, fmt.Errorf("attach: %w", err)
	}
	ports := normalizePorts(req.HostPorts)
	if err := n.validatePorts(ports); err != nil {
		return Attachment{}, fmt.Errorf("attach %s: %w", id, err)
	}
	if err := ctx.Err(); err != nil {
		return Attachment{}, fmt.Errorf("attach %s: %w", id, err)
	}
	ns, err := netns.GetFromPath(req.NetNSPath)
	if err != nil {
		return Attachment{}, fmt.Errorf("attach %s: open netns %s: %w", id, req.NetNSPath, err)
	}
	defer ns.Close()
	br, err := netlink.LinkByName(n.cfg.Bridge)
	if err != nil {
		return Attachment{}, fmt.Errorf("attach %s: bridge %s (Ensure not run?): %w", id, n.cfg.Bridge, err)
	}

	// Fail early on a taken hostPort; setHostPorts checks again, atomically with adding the rules.
	if err := n.checkHostPorts(id, ports); err != nil {
		return Attachment{}, fmt.Errorf("attach %s: %w", id, err)
	}
	ip, err := n.ipam.Allocate(id)
	if err != nil {
		return Attachment{}, fmt.Errorf("attach %s: allocate address: %w", id, err)
	}
	att := Attachment{IP: ip, PrefixLen: n.cfg.PodCIDR.Bits(), Gateway: n.cfg.gateway(), HostVeth: vethName(id)}
	if err := n.attach(ctx, id, ns, br, att, ports); err != nil {
		if derr := n.Detach(context.WithoutCancel(ctx), id); derr != nil {
			err = errors.Join(err, fmt.Errorf("roll back: %w", derr))
		}
		return Attachment{}, fmt.Errorf("attach %s: %w", id, err)
	}
	return att, nil
}

func (n *Network) attach(ctx context.Context, id string, ns netns.NsHandle, br netlink.Link, att Attachment, ports []PortMapping) error {
	// A veth left by an earlier attempt goes, and its pod end with it.
	if err := deleteLink(att.HostVeth); err != nil {
		return fmt.Errorf("remove stale veth %s: %w", att.HostVeth, err)
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = att.HostVeth
	attrs.MTU = br.Attrs().MTU
	attrs.MasterIndex = br.Attrs().Index
	attrs.Flags = net.FlagUp
	// Creating the pod end inside the namespace avoids a clash with the node's own eth0.
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: podIfname, PeerNamespace: netlink.NsFd(ns)}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s: %w", att.HostVeth, err)
	}
	// With br_netfilter, a pod's packet to its own hostPort is DNATed at the bridge and sent back out of the
	// port it came in on, which a bridge does only in hairpin mode.
	if err := netlink.LinkSetHairpin(veth, true); err != nil {
		return fmt.Errorf("hairpin on veth %s: %w", att.HostVeth, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := configurePodSide(ns, att); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return n.setHostPorts(id, att.IP, ports)
}

// configurePodSide sets up eth0 and lo inside the pod's namespace through a netlink socket opened there, so no
// thread of this process has to enter the namespace.
func configurePodSide(ns netns.NsHandle, att Attachment) error {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in pod netns: %w", err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	eth, err := h.LinkByName(podIfname)
	if err != nil {
		return fmt.Errorf("find pod %s: %w", podIfname, err)
	}
	addr := &netlink.Addr{IPNet: prefixToIPNet(netip.PrefixFrom(att.IP, att.PrefixLen))}
	if err := h.AddrAdd(eth, addr); err != nil {
		return fmt.Errorf("address %s on pod %s: %w", addr.IPNet, podIfname, err)
	}
	if err := h.LinkSetUp(eth); err != nil {
		return fmt.Errorf("pod %s up: %w", podIfname, err)
	}
	route := &netlink.Route{LinkIndex: eth.Attrs().Index, Gw: att.Gateway.AsSlice()}
	if err := h.RouteAdd(route); err != nil {
		return fmt.Errorf("default route via %s: %w", att.Gateway, err)
	}
	return nil
}

func deleteLink(name string) error {
	link, err := netlink.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := netlink.LinkDel(link); err != nil && !isNotFound(err) {
		return err
	}
	return nil
}

// checkHostPorts fails if a pod other than id holds one of ports.
func (n *Network) checkHostPorts(id string, ports []PortMapping) error {
	if len(ports) == 0 {
		return nil
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	existing, err := n.listHostPorts(c)
	if err != nil {
		return err
	}
	return conflict(id, ports, existing)
}

func conflict(id string, ports []PortMapping, existing []hostPortRule) error {
	for _, hp := range existing {
		if hp.podID == id {
			continue
		}
		for _, m := range ports {
			if m.conflicts(hp.mapping) {
				return fmt.Errorf("hostPort %s/%s:%d is already taken on this node by pod %s",
					m.Protocol, hostIPString(m.HostIP), m.HostPort, hp.podID)
			}
		}
	}
	return nil
}

// setHostPorts replaces id's hostPort rules with ports, in one nftables transaction, after checking that no
// other pod holds one of them.
func (n *Network) setHostPorts(id string, ip netip.Addr, ports []PortMapping) error {
	n.nftMu.Lock()
	defer n.nftMu.Unlock()
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	existing, err := n.listHostPorts(c)
	if err != nil {
		return err
	}
	if err := conflict(id, ports, existing); err != nil {
		return err
	}
	for _, hp := range existing {
		if hp.podID == id {
			if err := n.nft.delHostPort(c, hp); err != nil {
				return fmt.Errorf("remove old hostPort %s: %w", hp.mapping, err)
			}
		}
	}
	for _, m := range ports {
		n.nft.addHostPort(c, id, ip, m)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("write hostPort rules: %w", err)
	}
	return nil
}

// listHostPorts reads the hostPort rules; none when the table does not exist (after Teardown).
func (n *Network) listHostPorts(c *nftables.Conn) ([]hostPortRule, error) {
	hps, err := n.nft.listHostPorts(c)
	if err == nil {
		return hps, nil
	}
	if exists, terr := n.nft.tableExists(c); terr == nil && !exists {
		return nil, nil
	}
	return nil, err
}

// deleteHostPorts removes the hostPort rules of the pods that drop selects.
func (n *Network) deleteHostPorts(drop func(id string) bool) error {
	n.nftMu.Lock()
	defer n.nftMu.Unlock()
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	existing, err := n.listHostPorts(c)
	if err != nil {
		return err
	}
	for _, hp := range existing {
		if drop(hp.podID) {
			if err := n.nft.delHostPort(c, hp); err != nil {
				return fmt.Errorf("remove hostPort %s: %w", hp.mapping, err)
			}
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("remove hostPort rules: %w", err)
	}
	return nil
}

// Detach undoes Attach: the hostPorts, the veth (and with it the pod's eth0), then the address, in that order
// so that an address is never handed out again while still in use. It is idempotent, and finishes the work
// of a Detach or Attach interrupted half-way.
func (n *Network) Detach(ctx context.Context, id string) error {
	if err := validateID(id); err != nil {
		return fmt.Errorf("detach: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("detach %s: %w", id, err)
	}
	if err := n.deleteHostPorts(func(podID string) bool { return podID == id }); err != nil {
		return fmt.Errorf("detach %s: %w", id, err)
	}
	if err := deleteLink(vethName(id)); err != nil {
		return fmt.Errorf("detach %s: delete veth %s: %w", id, vethName(id), err)
	}
	if err := n.ipam.Release(id); err != nil {
		return fmt.Errorf("detach %s: release address: %w", id, err)
	}
	return nil
}

// Reconcile detaches every pod not in liveIDs and deletes its network namespace: the state left by pods that
// ended while the agent was down. liveIDs must include the pods being started.
func (n *Network) Reconcile(ctx context.Context, liveIDs []string) error {
	live := make(map[string]bool, len(liveIDs))
	liveVeths := make(map[string]bool, len(liveIDs))
	for _, id := range liveIDs {
		live[id] = true
		liveVeths[vethName(id)] = true
	}
	allocs, err := n.ipam.Allocations()
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	var errs []error
	for addr, id := range allocs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reconcile: %w", err)
		}
		switch {
		case id == "":
			errs = append(errs, n.ipam.releaseOrphan(addr))
		case !live[id]:
			errs = append(errs, n.Detach(ctx, id))
		}
	}
	if err := n.deleteHostPorts(func(id string) bool { return !live[id] }); err != nil {
		errs = append(errs, fmt.Errorf("reconcile: %w", err))
	}
	if br, err := netlink.LinkByName(n.cfg.Bridge); err == nil {
		if err := n.deleteVeths(br, func(name string) bool { return liveVeths[name] }); err != nil {
			errs = append(errs, fmt.Errorf("reconcile: %w", err))
		}
	} else if !isNotFound(err) {
		errs = append(errs, fmt.Errorf("reconcile: bridge %s: %w", n.cfg.Bridge, err))
	}
	if err := n.deleteStaleNetNS(ctx, live); err != nil {
		errs = append(errs, fmt.Errorf("reconcile: %w", err))
	}
	return errors.Join(errs...)
}

// deleteStaleNetNS deletes the namespaces in NetNSDir that NewNetNS made for pods not in live.
func (n *Network) deleteStaleNetNS(ctx context.Context, live map[string]bool) error {
	entries, err := os.ReadDir(n.cfg.NetNSDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		id, ok := strings.CutPrefix(e.Name(), netnsNamePrefix)
		if !ok || live[id] || validateID(id) != nil {
			continue
		}
		errs = append(errs, n.DeleteNetNS(ctx, id))
	}
	return errors.Join(errs...)
}
