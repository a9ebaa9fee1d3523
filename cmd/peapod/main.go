// Command peapod is a lightweight Kubernetes Pod engine: one binary with an API server, store, scheduler,
// controllers and node agent.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

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
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the Kubernetes-compatible API server, store and controllers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
	return cmd
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
