package main

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
)

func TestReservedFlag(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		want string // the parsed list, as String prints it
		err  string
	}{
		{arg: "cpu=100m,memory=256Mi,pid=1000,ephemeral-storage=1Gi", want: "cpu=100m,ephemeral-storage=1Gi,memory=256Mi,pid=1k"},
		{arg: "memory=1G", want: "memory=1G"},
		{arg: "", want: ""},
		{arg: "memory=lots", err: `invalid argument "memory=lots" for "--system-reserved" flag: memory=lots: quantities must match`},
		{arg: "cpu=-1", err: "a reserve cannot be negative"},
		{arg: "gpu=1", err: `cannot reserve "gpu"`},
		{arg: "cpu", err: `"cpu" is not name=quantity`},
	} {
		t.Run(tc.arg, func(t *testing.T) {
			var list corev1.ResourceList
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			fs.Var(reservedFlag{&list}, "system-reserved", "")
			err := fs.Parse([]string{"--system-reserved=" + tc.arg})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := (reservedFlag{&list}).String(); got != tc.want {
				t.Errorf("parsed %q, want %q", got, tc.want)
			}
		})
	}
}
