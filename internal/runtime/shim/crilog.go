package shim

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
)

// maxLogLine is where a long line is cut into partial ('P') entries, as the kubelet's CRI log does.
const maxLogLine = 16 * 1024

// criLog appends CRI-format lines (`<RFC3339Nano> <stream> <F|P> <content>`) from a container's streams to
// one file. Streams are written concurrently; each entry is one write.
type criLog struct {
	path string
	mu   sync.Mutex
	f    *os.File // nil once closed
}

func openCRILog(path string) (*criLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	return &criLog{path: path, f: f}, nil
}

// reopen switches to a new file at the log's path, after the agent has rotated the old one away.
func (l *criLog) reopen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil // the container's streams have ended: nothing more will be written
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("reopen log: %w", err)
	}
	l.f.Close()
	l.f = f
	return nil
}

func (l *criLog) write(b []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		_, _ = l.f.Write(b) // a full disk must not stop draining the container's pipe
	}
}

// copy logs r as stream until EOF (or EIO, which is how a pty reports that its last writer closed).
// With tty, the \r the pty adds before each \n is dropped.
func (l *criLog) copy(stream string, r io.Reader, tty bool) {
	br := bufio.NewReaderSize(r, maxLogLine)
	entry := make([]byte, 0, maxLogLine+64)
	for {
		line, err := br.ReadSlice('\n')
		tag := "F"
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			tag = "P"
		case err == nil:
			line = line[:len(line)-1]
			if n := len(line); n > 0 && line[n-1] == '\r' && tty {
				line = line[:n-1] // a pty turns \n into \r\n
			}
		}
		if err == nil || errors.Is(err, bufio.ErrBufferFull) || len(line) > 0 {
			entry = time.Now().AppendFormat(entry[:0], time.RFC3339Nano)
			entry = append(entry, ' ')
			entry = append(entry, stream...)
			entry = append(entry, ' ')
			entry = append(entry, tag...)
			entry = append(entry, ' ')
			entry = append(entry, line...)
			entry = append(entry, '\n')
			l.write(entry)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.EIO) {
				l.write([]byte(time.Now().Format(time.RFC3339Nano) + " stderr F peapod-shim: reading " + stream + ": " + err.Error() + "\n"))
			}
			return
		}
	}
}

func (l *criLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
