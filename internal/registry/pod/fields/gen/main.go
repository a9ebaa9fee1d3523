// Command gen writes docs/pod-fields.md from peapod's Pod field support table.
//
//	go run ./internal/registry/pod/fields/gen -o docs/pod-fields.md
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/peapod-dev/peapod/internal/registry/pod/fields"
)

func main() {
	out := flag.String("o", "", "file to write (default: standard output)")
	flag.Parse()
	if err := write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func write(path string) error {
	doc := []byte(fields.Markdown())
	if path == "" {
		_, err := os.Stdout.Write(doc)
		return err
	}
	if err := os.WriteFile(path, doc, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
