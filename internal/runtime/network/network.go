// Package network gives pods their network on a node: one Linux bridge, one veth pair per pod into a named
// network namespace, addresses from the node's pod CIDR kept in a state directory, and an nftables table of
// peapod's own for masquerading traffic that leaves the cluster and for hostPorts. It knows Linux, not
// Kubernetes.
//
// Pod-to-pod and node-to-pod traffic is routed, never NATed, so a receiver sees the sender's pod address.
// Only IPv4 is supported.
package network

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Protocol is a hostPort's transport protocol.
type Protocol string

// The protocols a hostPort may use.
const (
	TCP  Protocol = "tcp"
	UDP  Protocol = "udp"
	SCTP Protocol = "sctp"
)

func (p Protocol) number() byte {
	switch p {
	case TCP:
		return unix.IPPROTO_TCP
	case UDP:
		return unix.IPPROTO_UDP
	case SCTP:
		return unix.IPPROTO_SCTP
	}
	return 0
}

// PortMapping publishes a pod's port on the node.
type PortMapping struct {
	Protocol      Protocol
	ContainerPort uint16
	HostPort      uint16
	// HostIP restricts the mapping to one node address; the zero value (or 0.0.0.0) means every address
	// hostPorts are published on (Config.NodeIPs and 127.0.0.1).
	HostIP netip.Addr
}

func (m PortMapping) String() string {
	return fmt.Sprintf("%s/%s:%d->%d", m.Protocol, hostIPString(m.HostIP), m.HostPort, m.ContainerPort)
}

// conflicts reports whether m and o cannot both be published.
func (m PortMapping) conflicts(o PortMapping) bool {
	return m.Protocol == o.Protocol && m.HostPort == o.HostPort &&
		(!m.HostIP.IsValid() || !o.HostIP.IsValid() || m.HostIP == o.HostIP)
}

// AttachRequest asks for a pod's network inside an existing network namespace.
type AttachRequest struct {
	ID        string
	NetNSPath string
	HostPorts []PortMapping
}

// Attachment is a pod's network as configured.
type Attachment struct {
	IP        netip.Addr
	PrefixLen int
	Gateway   netip.Addr
	HostVeth  string
}

// Network sets up and tears down pod networking on one node. Its methods may be called concurrently, for
// different IDs; one process should own a Config's bridge, table and state directory at a time.
type Network struct {
	cfg  Config
	ipam *ipam
	nft  nftRules

	// nftMu makes a hostPort's conflict check and its rule's insertion one step.
	nftMu sync.Mutex
	// netnsMu guards netnsDirShared, set once NetNSDir is known to be a shared mount.
	netnsMu        sync.Mutex
	netnsDirShared bool
}

// New checks cfg and fills its defaults; it changes nothing on the node.
func New(cfg Config) (*Network, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("network config: %w", err)
	}
	for i, ip := range cfg.NodeIPs {
		cfg.NodeIPs[i] = ip.Unmap()
	}
	dir := filepath.Join(cfg.StateDir, "ipam", strings.ReplaceAll(cfg.PodCIDR.String(), "/", "_"))
	return &Network{cfg: cfg, ipam: newIPAM(dir, cfg.PodCIDR, cfg.gateway()), nft: newNFTRules(cfg)}, nil
}

// Config returns the configuration in use, defaults filled in.
func (n *Network) Config() Config { return n.cfg }

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// bridgeMAC is fixed so that the bridge does not take on the lowest MAC of its ports, which would change, and
// with it the pods' neighbour entries for the gateway, as pods come and go.
func (n *Network) bridgeMAC() net.HardwareAddr {
	sum := sha256.Sum256([]byte("peapod-bridge/" + n.cfg.Bridge + "/" + n.cfg.PodCIDR.String()))
	mac := net.HardwareAddr(sum[:6])
	mac[0] = (mac[0] | 0x02) &^ 0x01 // locally administered, unicast
	return mac
}

// mtu is the configured MTU, else the MTU of the default route's link.
func (n *Network) mtu() int {
	if n.cfg.MTU > 0 {
		return n.cfg.MTU
	}
	routes, err := netlink.RouteListFiltered(unix.AF_INET, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err == nil {
		for _, r := range routes {
			if r.Dst != nil {
				if ones, _ := r.Dst.Mask.Size(); ones != 0 {
					continue
				}
			}
			if link, err := netlink.LinkByIndex(r.LinkIndex); err == nil && link.Attrs().MTU > 0 {
				return link.Attrs().MTU
			}
		}
	}
	return defaultMTU
}

func (n *Network) unreachableRoute() *netlink.Route {
	return &netlink.Route{
		Dst:   prefixToIPNet(n.cfg.ClusterCIDR),
		Type:  unix.RTN_UNREACHABLE,
		Table: unix.RT_TABLE_MAIN,
	}
}

// Ensure sets up the node: the bridge with the gateway address, IP forwarding, the unreachable route for the
// cluster CIDR and peapod's nftables table. It is idempotent, and keeps the pods' veths and hostPorts.
func (n *Network) Ensure(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("network ensure: %w", err)
	}
	br, err := n.ensureBridge()
	if err != nil {
		return fmt.Errorf("network ensure: bridge %s: %w", n.cfg.Bridge, err)
	}
	// Local clients of a hostPort on 127.0.0.1 send from 127.0.0.1 through the bridge until masqueraded, and
	// get their replies back through it.
	if err := writeSysctl(fmt.Sprintf("net/ipv4/conf/%s/route_localnet", br.Attrs().Name), "1"); err != nil {
		return fmt.Errorf("network ensure: %w", err)
	}
	if err := writeSysctl("net/ipv4/ip_forward", "1"); err != nil {
		return fmt.Errorf("network ensure: %w", err)
	}
	if err := netlink.RouteReplace(n.unreachableRoute()); err != nil {
		return fmt.Errorf("network ensure: unreachable route %s: %w", n.cfg.ClusterCIDR, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("network ensure: %w", err)
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("network ensure: nftables: %w", err)
	}
	n.nftMu.Lock()
	defer n.nftMu.Unlock()
	n.nft.ensure(c)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("network ensure: nftables table %s: %w", n.cfg.Table, err)
	}
	return nil
}

func (n *Network) ensureBridge() (netlink.Link, error) {
	link, err := netlink.LinkByName(n.cfg.Bridge)
	var notFound netlink.LinkNotFoundError
	switch {
	case errors.As(err, &notFound):
		attrs := netlink.NewLinkAttrs()
		attrs.Name = n.cfg.Bridge
		attrs.MTU = n.mtu()
		attrs.HardwareAddr = n.bridgeMAC()
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("create: %w", err)
		}
		if link, err = netlink.LinkByName(n.cfg.Bridge); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	case link.Type() != "bridge":
		return nil, fmt.Errorf("exists but is a %s, not a bridge", link.Type())
	}
	gw := &netlink.Addr{IPNet: prefixToIPNet(netip.PrefixFrom(n.cfg.gateway(), n.cfg.PodCIDR.Bits()))}
	if err := netlink.AddrReplace(link, gw); err != nil {
		return nil, fmt.Errorf("address %s: %w", gw.IPNet, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("up: %w", err)
	}
	return link, nil
}

func writeSysctl(name, value string) error {
	if err := os.WriteFile(filepath.Join("/proc/sys", name), []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", strings.ReplaceAll(name, "/", "."), value, err)
	}
	return nil
}

// vethName derives the host end's name from the pod ID: a hash, as IDs are longer than an interface name.
func vethName(id string) string {
	sum := sha256.Sum256([]byte(id))
	return vethPrefix + hex.EncodeToString(sum[:])[:maxInterfaceName-len(vethPrefix)]
}

const vethPrefix = "pp"

// Teardown removes what Ensure and Attach made on the node: the pods' veths, the bridge, the route, the nftables
// table and the address allocations. Network namespaces are the caller's (DeleteNetNS). ip_forward stays on, as
// other software on the node may rely on it.
func (n *Network) Teardown(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("network teardown: %w", err)
	}
	var errs []error
	if br, err := netlink.LinkByName(n.cfg.Bridge); err == nil {
		errs = append(errs, n.deleteVeths(br, func(string) bool { return false }))
		if err := netlink.LinkDel(br); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("delete bridge %s: %w", n.cfg.Bridge, err))
		}
	} else if !isNotFound(err) {
		errs = append(errs, fmt.Errorf("find bridge %s: %w", n.cfg.Bridge, err))
	}
	if err := netlink.RouteDel(n.unreachableRoute()); err != nil && !errors.Is(err, unix.ESRCH) {
		errs = append(errs, fmt.Errorf("delete unreachable route %s: %w", n.cfg.ClusterCIDR, err))
	}
	errs = append(errs, n.deleteTable())
	errs = append(errs, n.ipam.Destroy())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("network teardown: %w", err)
	}
	return nil
}

func (n *Network) deleteTable() error {
	n.nftMu.Lock()
	defer n.nftMu.Unlock()
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	exists, err := n.nft.tableExists(c)
	if err != nil || !exists {
		return err
	}
	c.DelTable(n.nft.table)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("delete nftables table %s: %w", n.cfg.Table, err)
	}
	return nil
}

// deleteVeths removes the bridge's peapod veths whose name keep does not accept.
func (n *Network) deleteVeths(br netlink.Link, keep func(name string) bool) error {
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	var errs []error
	for _, l := range links {
		a := l.Attrs()
		if a.MasterIndex != br.Attrs().Index || l.Type() != "veth" || !strings.HasPrefix(a.Name, vethPrefix) || keep(a.Name) {
			continue
		}
		if err := netlink.LinkDel(l); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("delete veth %s: %w", a.Name, err))
		}
	}
	return errors.Join(errs...)
}

func isNotFound(err error) bool {
	var lnf netlink.LinkNotFoundError
	return errors.As(err, &lnf) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENOENT)
}
