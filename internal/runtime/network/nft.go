package network

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// Chains of peapod's table. The base chains are rewritten whole by Ensure; hostports holds one rule per
// published port, tagged with its pod's ID, and survives Ensure.
const (
	chainPrerouting  = "prerouting"
	chainOutput      = "output"
	chainPostrouting = "postrouting"
	chainInput       = "input"
	chainHostPorts   = "hostports"
	// ipsDstNAT is the conntrack status bit of a DNATed connection (IPS_DST_NAT).
	ipsDstNAT = 1 << 5
)

var loopback = netip.MustParsePrefix("127.0.0.0/8")

// nftRules builds the table's contents from a Config.
type nftRules struct {
	cfg   Config
	table *nftables.Table
}

func newNFTRules(cfg Config) nftRules {
	return nftRules{cfg: cfg, table: &nftables.Table{Name: cfg.Table, Family: nftables.TableFamilyIPv4}}
}

func (r nftRules) chain(name string) *nftables.Chain {
	return &nftables.Chain{Name: name, Table: r.table}
}

func (r nftRules) baseChains() []*nftables.Chain {
	accept := nftables.ChainPolicyAccept
	base := func(name string, typ nftables.ChainType, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
		return &nftables.Chain{Name: name, Table: r.table, Type: typ, Hooknum: hook, Priority: prio, Policy: &accept}
	}
	return []*nftables.Chain{
		base(chainPrerouting, nftables.ChainTypeNAT, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest),
		base(chainOutput, nftables.ChainTypeNAT, nftables.ChainHookOutput, nftables.ChainPriorityNATDest),
		base(chainPostrouting, nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource),
		base(chainInput, nftables.ChainTypeFilter, nftables.ChainHookInput, nftables.ChainPriorityFilter),
	}
}

// ensure queues, on c, the table with its chains and base rules, leaving the hostports rules alone.
// Flushing and refilling the base chains in one batch makes Ensure atomic and idempotent.
func (r nftRules) ensure(c *nftables.Conn) {
	c.AddTable(r.table)
	hostports := c.AddChain(r.chain(chainHostPorts))
	chains := map[string]*nftables.Chain{}
	for _, ch := range r.baseChains() {
		chains[ch.Name] = c.AddChain(ch)
		c.FlushChain(ch)
	}
	add := func(chain string, exprs ...expr.Any) {
		c.AddRule(&nftables.Rule{Table: r.table, Chain: chains[chain], Exprs: exprs})
	}
	jump := &expr.Verdict{Kind: expr.VerdictJump, Chain: hostports.Name}

	// hostPorts: from outside (and from pods) on the node's addresses...
	for _, ip := range r.cfg.NodeIPs {
		add(chainPrerouting, append(matchAddr(offDaddr, netip.PrefixFrom(ip, 32), expr.CmpOpEq), jump)...)
		add(chainOutput, append(matchAddr(offDaddr, netip.PrefixFrom(ip, 32), expr.CmpOpEq), jump)...)
	}
	// ...and from local clients on 127.0.0.1 too, never from outside (that would be CVE-2020-8558).
	add(chainOutput, append(matchAddr(offDaddr, netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 32), expr.CmpOpEq), jump)...)

	// Pods reach the world with the node's address; pod to pod keeps the sender's address.
	add(chainPostrouting, append(append(
		matchAddr(offSaddr, r.cfg.PodCIDR, expr.CmpOpEq),
		matchAddr(offDaddr, r.cfg.ClusterCIDR, expr.CmpOpNeq)...),
		&expr.Masq{})...)
	// A local client of a hostPort on 127.0.0.1 would otherwise reach the pod from 127.0.0.1, which the pod
	// answers to its own loopback.
	add(chainPostrouting, append(append(
		matchIfname(expr.MetaKeyOIFNAME, r.cfg.Bridge),
		matchAddr(offSaddr, loopback, expr.CmpOpEq)...),
		&expr.Masq{})...)
	// A pod using a hostPort, its own included: the receiving pod would answer the sender directly over the
	// bridge, bypassing the un-DNAT, and a pod drops a packet from its own address.
	add(chainPostrouting, append(append(append(
		matchIfname(expr.MetaKeyOIFNAME, r.cfg.Bridge),
		matchAddr(offSaddr, r.cfg.PodCIDR, expr.CmpOpEq)...),
		matchCtDNAT(expr.CmpOpNeq)...),
		&expr.Masq{})...)

	// route_localnet on the bridge (needed for the 127.0.0.1 hostPorts) would also let a pod with NET_RAW reach
	// the node's loopback services; drop such packets unless they belong to a DNATed connection, as
	// kube-proxy does since CVE-2020-8558.
	add(chainInput, append(append(append(
		matchIfname(expr.MetaKeyIIFNAME, r.cfg.Bridge),
		matchAddr(offDaddr, loopback, expr.CmpOpEq)...),
		matchCtDNAT(expr.CmpOpEq)...),
		&expr.Verdict{Kind: expr.VerdictDrop})...)
}

// matchCtDNAT compares the connection's DNAT status bit with 0: CmpOpNeq matches DNATed connections.
func matchCtDNAT(op expr.CmpOp) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: op, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
}

// Offsets of the IPv4 header's addresses.
const (
	offSaddr = 12
	offDaddr = 16
)

func matchAddr(offset uint32, p netip.Prefix, op expr.CmpOp) []expr.Any {
	addr := p.Addr().As4()
	exprs := []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4}}
	if p.Bits() < 32 {
		m := prefixMask(p.Bits())
		exprs = append(exprs, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: m[:], Xor: []byte{0, 0, 0, 0}})
	}
	return append(exprs, &expr.Cmp{Op: op, Register: 1, Data: addr[:]})
}

func prefixMask(bits int) [4]byte {
	var m [4]byte
	for i := range bits {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return m
}

func matchIfname(key expr.MetaKey, name string) []expr.Any {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b},
	}
}

// hostPortRule is one published port as stored in the hostports chain.
type hostPortRule struct {
	podID   string
	mapping PortMapping
	handle  uint64
}

// The comment of a hostPort rule: enough to find a pod's rules and detect conflicts after a restart, readable
// in `nft list table ip peapod`.
func hostPortComment(id string, m PortMapping) string {
	return fmt.Sprintf("pod=%s %s/%s:%d", id, m.Protocol, hostIPString(m.HostIP), m.HostPort)
}

func hostIPString(ip netip.Addr) string {
	if !ip.IsValid() {
		return "*"
	}
	return ip.String()
}

func parseHostPortComment(s string) (hostPortRule, bool) {
	podPart, rest, ok := strings.Cut(s, " ")
	id, ok2 := strings.CutPrefix(podPart, "pod=")
	proto, hostPort, ok3 := strings.Cut(rest, "/")
	ipPart, portPart, ok4 := strings.Cut(hostPort, ":")
	if !ok || !ok2 || !ok3 || !ok4 {
		return hostPortRule{}, false
	}
	port, err := strconv.ParseUint(portPart, 10, 16)
	if err != nil {
		return hostPortRule{}, false
	}
	var ip netip.Addr
	if ipPart != "*" {
		if ip, err = netip.ParseAddr(ipPart); err != nil {
			return hostPortRule{}, false
		}
	}
	return hostPortRule{podID: id, mapping: PortMapping{Protocol: Protocol(proto), HostPort: uint16(port), HostIP: ip}}, true
}

// listHostPorts reads the hostports chain.
func (r nftRules) listHostPorts(c *nftables.Conn) ([]hostPortRule, error) {
	rules, err := c.GetRules(r.table, r.chain(chainHostPorts))
	if err != nil {
		return nil, fmt.Errorf("list hostPort rules: %w", err)
	}
	var out []hostPortRule
	for _, rule := range rules {
		comment, ok := userdata.GetString(rule.UserData, userdata.TypeComment)
		if !ok {
			continue
		}
		if hp, ok := parseHostPortComment(comment); ok {
			hp.handle = rule.Handle
			out = append(out, hp)
		}
	}
	return out, nil
}

// addHostPort queues the DNAT rule publishing m for the pod at podIP.
func (r nftRules) addHostPort(c *nftables.Conn, id string, podIP netip.Addr, m PortMapping) {
	var exprs []expr.Any
	if m.HostIP.IsValid() {
		exprs = matchAddr(offDaddr, netip.PrefixFrom(m.HostIP, 32), expr.CmpOpEq)
	}
	ip := podIP.As4()
	exprs = append(exprs,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{m.Protocol.number()}},
		// The destination port sits at the same offset in TCP, UDP and SCTP.
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(m.HostPort)},
		&expr.Immediate{Register: 1, Data: ip[:]},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(m.ContainerPort)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	)
	c.AddRule(&nftables.Rule{
		Table:    r.table,
		Chain:    r.chain(chainHostPorts),
		Exprs:    exprs,
		UserData: userdata.AppendString(nil, userdata.TypeComment, hostPortComment(id, m)),
	})
}

// delHostPort queues the removal of one rule.
func (r nftRules) delHostPort(c *nftables.Conn, hp hostPortRule) error {
	return c.DelRule(&nftables.Rule{Table: r.table, Chain: r.chain(chainHostPorts), Handle: hp.handle})
}

// tableExists reports whether peapod's table is in the kernel.
func (r nftRules) tableExists(c *nftables.Conn) (bool, error) {
	tables, err := c.ListTablesOfFamily(r.table.Family)
	if err != nil {
		return false, fmt.Errorf("list nftables tables: %w", err)
	}
	for _, t := range tables {
		if t.Name == r.table.Name {
			return true, nil
		}
	}
	return false, nil
}
