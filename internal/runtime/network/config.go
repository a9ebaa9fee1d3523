package network

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
)

// Defaults for Config's zero fields. The CIDRs are the ones k3s uses, so a peapod node looks familiar.
const (
	DefaultBridge    = "peapod0"
	DefaultTable     = "peapod"
	DefaultStateDir  = "/var/lib/peapod/network"
	DefaultNetNSDir  = "/run/netns"
	defaultMTU       = 1500
	netnsNamePrefix  = "peapod-"
	maxIDLen         = 64
	maxInterfaceName = 15 // IFNAMSIZ - 1
)

var (
	defaultClusterCIDR = netip.MustParsePrefix("10.42.0.0/16")
	defaultPodCIDR     = netip.MustParsePrefix("10.42.0.0/24")
)

// Config describes one node's pod network. The zero value of each field takes the default named on it.
type Config struct {
	// Bridge is the name of the node's pod bridge. Default "peapod0".
	Bridge string
	// ClusterCIDR holds every pod address of the cluster; traffic to it is never masqueraded and a pod address
	// in it that is not on this node is unreachable rather than sent out by the default route.
	// Default 10.42.0.0/16.
	ClusterCIDR netip.Prefix
	// PodCIDR is this node's share of ClusterCIDR; its first address is the bridge's (the pods' gateway).
	// Default 10.42.0.0/24.
	PodCIDR netip.Prefix
	// StateDir keeps the address allocations across agent restarts. Default /var/lib/peapod/network.
	StateDir string
	// MTU of the bridge and the veths. Default: the MTU of the link carrying the default route, else 1500.
	MTU int
	// NodeIPs are the node's own addresses on which hostPorts are published (besides 127.0.0.1 for local
	// clients). Empty means hostPorts are reachable from this node only.
	NodeIPs []netip.Addr
	// Table is the name of peapod's nftables table (family ip). Default "peapod"; tests use their own.
	Table string
	// NetNSDir is where NewNetNS bind-mounts the named network namespaces. Default /run/netns, where
	// `ip netns` finds them too.
	NetNSDir string
}

// idPattern keeps IDs usable as file names, in nftables comments and in interface-name hashes.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

func validateID(id string) error {
	if len(id) > maxIDLen || !idPattern.MatchString(id) {
		return fmt.Errorf("invalid pod network ID %q: want 1-%d characters of [A-Za-z0-9_.-], not starting with . or -", id, maxIDLen)
	}
	return nil
}

// withDefaults fills the zero fields and checks the result.
func (c Config) withDefaults() (Config, error) {
	if c.Bridge == "" {
		c.Bridge = DefaultBridge
	}
	if c.Table == "" {
		c.Table = DefaultTable
	}
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	if c.NetNSDir == "" {
		c.NetNSDir = DefaultNetNSDir
	}
	if !c.ClusterCIDR.IsValid() {
		c.ClusterCIDR = defaultClusterCIDR
	}
	if !c.PodCIDR.IsValid() {
		c.PodCIDR = defaultPodCIDR
	}
	c.ClusterCIDR = c.ClusterCIDR.Masked()
	c.PodCIDR = c.PodCIDR.Masked()

	var errs []error
	if len(c.Bridge) > maxInterfaceName {
		errs = append(errs, fmt.Errorf("bridge name %q is longer than %d characters", c.Bridge, maxInterfaceName))
	}
	if !c.ClusterCIDR.Addr().Is4() || !c.PodCIDR.Addr().Is4() {
		errs = append(errs, fmt.Errorf("cluster CIDR %s and pod CIDR %s must be IPv4", c.ClusterCIDR, c.PodCIDR))
	}
	// The pod CIDR must be strictly smaller: an unreachable route of the same prefix would replace the bridge's.
	if c.PodCIDR.Bits() <= c.ClusterCIDR.Bits() || !c.ClusterCIDR.Contains(c.PodCIDR.Addr()) {
		errs = append(errs, fmt.Errorf("pod CIDR %s must be a proper subnet of cluster CIDR %s", c.PodCIDR, c.ClusterCIDR))
	}
	// Network, gateway, broadcast and at least one pod.
	if c.PodCIDR.Bits() > 30 {
		errs = append(errs, fmt.Errorf("pod CIDR %s has no room for pods: want /30 or larger", c.PodCIDR))
	}
	if c.MTU < 0 || c.MTU > 65535 {
		errs = append(errs, fmt.Errorf("MTU %d out of range", c.MTU))
	}
	for _, ip := range c.NodeIPs {
		if !ip.Is4() {
			errs = append(errs, fmt.Errorf("node IP %s: only IPv4 is supported", ip))
		}
	}
	if !filepath.IsAbs(c.StateDir) || !filepath.IsAbs(c.NetNSDir) {
		errs = append(errs, fmt.Errorf("state dir %q and netns dir %q must be absolute", c.StateDir, c.NetNSDir))
	}
	return c, errors.Join(errs...)
}

// gateway is the bridge's address: the pod CIDR's first host address.
func (c Config) gateway() netip.Addr { return c.PodCIDR.Addr().Next() }
