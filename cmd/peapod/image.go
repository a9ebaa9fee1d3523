package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/peapod-dev/peapod/internal/runtime/image"
	"github.com/peapod-dev/peapod/internal/runtime/snapshot"
)

// imageFlags are shared by the `peapod image` subcommands.
type imageFlags struct {
	dataDir  string
	insecure []string
}

// open opens the node agent's image store, <data-dir>/agent/content, which the agent may be using meanwhile;
// the layers of the agent's container snapshots are in use.
func (f *imageFlags) open() (*image.Store, error) {
	snaps, err := snapshot.New(filepath.Join(f.dataDir, "agent", "snapshots"))
	if err != nil {
		return nil, err
	}
	return image.Open(filepath.Join(f.dataDir, "agent", "content"),
		image.Options{InsecureRegistries: f.insecure, LayersInUse: snaps.LowerDirsInUse})
}

func newImageCommand() *cobra.Command {
	var flags imageFlags
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Manage the node's images: pull, import, list, remove",
		Args:  cobra.NoArgs,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&flags.dataDir, "data-dir", "/var/lib/peapod", "peapod's data directory")
	pf.StringSliceVar(&flags.insecure, "insecure-registry", nil, "registry (host or host:port) reachable over plain HTTP")
	cmd.AddCommand(newImagePullCommand(&flags), newImageImportCommand(&flags), newImageListCommand(&flags),
		newImageRemoveCommand(&flags))
	return cmd
}

func newImagePullCommand(flags *imageFlags) *cobra.Command {
	var authFiles []string
	cmd := &cobra.Command{
		Use:   "pull IMAGE...",
		Short: "Pull images from their registries",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var opts image.PullOptions
			for _, f := range authFiles {
				data, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				opts.PullSecrets = append(opts.PullSecrets, data)
			}
			s, err := flags.open()
			if err != nil {
				return err
			}
			for _, ref := range args {
				res, err := s.Pull(cmd.Context(), ref, opts)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Pulled %s (%s) in %s, %d bytes\n",
					ref, res.Image.ID, res.Duration.Round(time.Millisecond), res.Image.Size)
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&authFiles, "auth-file", nil,
		"registry credentials: a .dockerconfigjson (docker's config.json) or .dockercfg file")
	return cmd
}

func newImageImportCommand(flags *imageFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "import PATH...",
		Short: "Import docker-archive or OCI archives (files, OCI layout directories, or folders of archives)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := flags.open()
			if err != nil {
				return err
			}
			for _, p := range args {
				imgs, err := importPath(cmd, s, p)
				if err != nil {
					return err
				}
				for _, img := range imgs {
					fmt.Fprintf(cmd.OutOrStdout(), "Imported %s %s\n", img.ID, strings.Join(img.RepoTags, " "))
				}
			}
			return nil
		},
	}
}

// importPath imports one archive, or every archive of a folder that is not itself an OCI layout.
func importPath(cmd *cobra.Command, s *image.Store, p string) ([]*image.Image, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		if _, err := os.Stat(filepath.Join(p, "oci-layout")); err != nil {
			return s.ImportDir(cmd.Context(), p)
		}
	}
	return s.Import(cmd.Context(), p)
}

func newImageListCommand(flags *imageFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List stored images",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := flags.open()
			if err != nil {
				return err
			}
			imgs, err := s.List(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "IMAGE\tTAG\tIMAGE ID\tSIZE")
			for _, img := range imgs {
				short := strings.TrimPrefix(img.ID, "sha256:")[:12]
				names := img.RepoTags
				if len(names) == 0 {
					names = []string{"<none>:<none>"}
				}
				for _, n := range names {
					repo, tag := n, "<none>"
					if i := strings.LastIndex(n, ":"); i > strings.LastIndex(n, "/") {
						repo, tag = n[:i], n[i+1:]
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", repo, tag, short, humanSize(img.Size))
				}
			}
			return tw.Flush()
		},
	}
}

func humanSize(n int64) string {
	const unit = 1000 // as crictl and docker print sizes
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	v, suffix := float64(n)/unit, "kB"
	for _, s := range []string{"MB", "GB", "TB"} {
		if v < unit {
			break
		}
		v, suffix = v/unit, s
	}
	return fmt.Sprintf("%.3g%s", v, suffix)
}

func newImageRemoveCommand(flags *imageFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "rm IMAGE...",
		Aliases: []string{"rmi"},
		Short:   "Remove images (by reference or ID) and the layers no other image uses",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := flags.open()
			if err != nil {
				return err
			}
			for _, ref := range args {
				if err := s.Remove(cmd.Context(), ref); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Deleted: %s\n", ref)
			}
			return nil
		},
	}
}
