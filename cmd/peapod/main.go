// Command peapod is a lightweight Kubernetes Pod engine: one binary with an API server, store, scheduler,
// controllers and node agent.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/peapod-dev/peapod/internal/agent"
	"github.com/peapod-dev/peapod/internal/server"
	"github.com/peapod-dev/peapod/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "peapod:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "peapod",
		Short:         "A lightweight Kubernetes Pod engine",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServerCommand(), newVersionCommand(), newImageCommand())
	return root
}

func newServerCommand() *cobra.Command {
	var opts server.Options
	var nodeIPs []string
	var clusterCIDR, podCIDR string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the Kubernetes-compatible API server, store, scheduler, controllers and a node agent",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := parseAgentNetwork(&opts.Agent, nodeIPs, clusterCIDR, podCIDR); err != nil {
				return err
			}
			err := server.Run(cmd.Context(), opts, cmd.OutOrStdout())
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.DataDir, "data-dir", "/var/lib/peapod", "directory for the store, certificates and kubeconfig")
	f.StringVar(&opts.Listen, "listen", "127.0.0.1:6443", "address the HTTPS API listens on")
	f.StringSliceVar(&opts.TLSSANs, "tls-san", nil, "extra host names or addresses for the serving certificate")
	f.BoolVar(&opts.DisableAgent, "disable-agent", false, "do not run a node agent on this machine")
	f.BoolVar(&opts.DisableScheduler, "disable-scheduler", false, "do not run the scheduler")
	addAgentFlags(f, &opts.Agent, &nodeIPs, &clusterCIDR, &podCIDR)
	return cmd
}

// addAgentFlags adds the node agent's flags, named as the kubelet's and k3s's are.
func addAgentFlags(f *pflag.FlagSet, cfg *agent.Config, nodeIPs *[]string, clusterCIDR, podCIDR *string) {
	f.StringVar(&cfg.NodeName, "node-name", "", "name of this node (default: the host name)")
	f.StringSliceVar(nodeIPs, "node-ip", nil, "addresses of this node (default: the first global IPv4 address)")
	f.IntVar(&cfg.MaxPods, "max-pods", 110, "most pods this node runs")
	f.Int64Var(&cfg.PodMaxPids, "pod-max-pids", -1, "most processes in each pod (-1: unlimited)")
	f.Var(reservedFlag{&cfg.SystemReserved}, "system-reserved", "resources kept for the system, off the node's allocatable (e.g. cpu=100m,memory=256Mi,ephemeral-storage=1Gi,pid=1000)")
	f.Var(reservedFlag{&cfg.KubeReserved}, "kube-reserved", "resources kept for peapod itself, off the node's allocatable (same form as --system-reserved)")
	f.IntVar(&cfg.Port, "kubelet-port", 10250, "port of the node agent's HTTPS endpoint")
	f.StringVar(&cfg.Runtime, "runtime", "runc", "OCI runtime: runc or crun (or a path)")
	f.StringVar(clusterCIDR, "cluster-cidr", "10.42.0.0/16", "range of every pod address in the cluster")
	f.StringVar(podCIDR, "pod-cidr", "10.42.0.0/24", "this node's share of the cluster CIDR")
	f.StringVar(&cfg.RunDir, "run-dir", "/run/peapod", "directory for the pods' shim sockets and runtime state (keep it short; when it is empty and on a disk, a tmpfs is mounted on it)")
	f.StringVar(&cfg.Network.Bridge, "bridge", "peapod0", "name of the node's pod bridge")
	f.StringVar(&cfg.Network.Table, "nft-table", "peapod", "name of peapod's nftables table")
	f.StringSliceVar(&cfg.InsecureRegistries, "insecure-registry", nil, "registries (host[:port]) pulled from over plain HTTP")
	f.DurationVar(&cfg.MaxContainerRestartPeriod, "max-container-restart-period", 300*time.Second,
		"longest CrashLoopBackOff delay, 1s to 300s (the kubelet's crashLoopBackOff.maxContainerRestartPeriod)")
}

func parseAgentNetwork(cfg *agent.Config, nodeIPs []string, clusterCIDR, podCIDR string) error {
	for _, s := range nodeIPs {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return fmt.Errorf("--node-ip %q: %w", s, err)
		}
		cfg.NodeIPs = append(cfg.NodeIPs, ip)
	}
	var err error
	if cfg.Network.ClusterCIDR, err = netip.ParsePrefix(clusterCIDR); err != nil {
		return fmt.Errorf("--cluster-cidr %q: %w", clusterCIDR, err)
	}
	if cfg.Network.PodCIDR, err = netip.ParsePrefix(podCIDR); err != nil {
		return fmt.Errorf("--pod-cidr %q: %w", podCIDR, err)
	}
	return nil
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			info := version.Get()
			fmt.Fprintf(cmd.OutOrStdout(), "peapod %s (Kubernetes API %s, %s)\n", version.Peapod, info.GitVersion, info.GoVersion)
		},
	}
}
