package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestExamplesMatchSeeds keeps examples/ and the seed files the tests create identical, so every example a
// user runs is one the tests ran.
func TestExamplesMatchSeeds(t *testing.T) {
	examples, err := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	if err != nil || len(examples) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, example := range examples {
		want, err := os.ReadFile(example)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(testdata(filepath.Join("seeds", filepath.Base(example))))
		if err != nil {
			t.Errorf("example %s has no seed copy the tests create: %v", filepath.Base(example), err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("examples/%s differs from testdata/seeds/%[1]s", filepath.Base(example))
		}
	}
}
