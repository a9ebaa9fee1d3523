package shim

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestCRILog(t *testing.T) {
	long := strings.Repeat("x", maxLogLine+10)
	tests := []struct {
		name  string
		tty   bool
		input string
		want  []string // "<tag> <content>"
	}{
		{"lines", false, "a\nb\n", []string{"F a", "F b"}},
		{"empty line", false, "\n", []string{"F "}},
		{"unterminated end", false, "a\nb", []string{"F a", "F b"}},
		{"long line split", false, long + "\n", []string{"P " + long[:maxLogLine], "F " + long[maxLogLine:]}},
		{"carriage return kept", false, "a\r\n", []string{"F a\r"}},
		{"tty carriage return dropped", true, "a\r\n", []string{"F a"}},
	}
	ts := regexp.MustCompile(`^(\S+) stdout (.*)$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "log")
			l, err := openCRILog(path)
			if err != nil {
				t.Fatal(err)
			}
			before := time.Now()
			l.copy("stdout", strings.NewReader(tt.input), tt.tty)
			l.Close()
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("got %d lines %q, want %d", len(lines), lines, len(tt.want))
			}
			for i, line := range lines {
				m := ts.FindStringSubmatch(line)
				if m == nil {
					t.Fatalf("line %q is not CRI format", line)
				}
				stamp, err := time.Parse(time.RFC3339Nano, m[1])
				if err != nil || stamp.Before(before.Add(-time.Second)) {
					t.Errorf("timestamp %q: %v", m[1], err)
				}
				if m[2] != tt.want[i] {
					t.Errorf("line %d = %.40q, want %.40q", i, m[2], tt.want[i])
				}
			}
		})
	}
}
