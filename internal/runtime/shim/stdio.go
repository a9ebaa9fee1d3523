package shim

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/peapod-dev/peapod/internal/runtime/oci/runc"
)

// stdio is a container's standard streams as the shim owns them: pipes, or the pty master the runtime
// sends over a console socket.
type stdio struct {
	tty bool
	// child ends, given to the runtime and closed in the shim once it has passed them on
	stdin, stdout, stderr *os.File
	// shim ends
	stdinW, stdoutR, stderrR *os.File

	consoleSock string
	consoleLn   *net.UnixListener
	consoleCh   chan consoleResult
	console     *os.File
	keepStdin   bool
}

type consoleResult struct {
	f   *os.File
	err error
}

func newStdio(dir string, req *CreateRequest) (_ *stdio, err error) {
	s := &stdio{tty: req.Terminal, keepStdin: req.Stdin}
	defer func() {
		if err != nil {
			s.closeChildEnds()
			s.closeAll()
		}
	}()
	if req.Terminal {
		s.consoleSock = filepath.Join(dir, "console.sock")
		if len(s.consoleSock) > 100 {
			return nil, fmt.Errorf("console socket path %s is too long for a unix socket", s.consoleSock)
		}
		s.consoleLn, err = net.ListenUnix("unix", &net.UnixAddr{Name: s.consoleSock, Net: "unix"})
		if err != nil {
			return nil, fmt.Errorf("console socket: %w", err)
		}
		s.consoleCh = make(chan consoleResult, 1)
		go func() {
			f, err := receiveConsole(s.consoleLn)
			s.consoleCh <- consoleResult{f, err}
		}()
		return s, nil
	}
	if req.Stdin {
		if s.stdin, s.stdinW, err = os.Pipe(); err != nil {
			return nil, fmt.Errorf("stdin pipe: %w", err)
		}
	} else if s.stdin, err = os.Open(os.DevNull); err != nil {
		return nil, fmt.Errorf("stdin: %w", err)
	}
	if s.stdoutR, s.stdout, err = os.Pipe(); err != nil {
		return nil, fmt.Errorf("stdout pipe: %w", err)
	}
	if s.stderrR, s.stderr, err = os.Pipe(); err != nil {
		return nil, fmt.Errorf("stderr pipe: %w", err)
	}
	return s, nil
}

func (s *stdio) options() runc.CreateOptions {
	if s.tty {
		return runc.CreateOptions{ConsoleSocket: s.consoleSock}
	}
	return runc.CreateOptions{Stdin: s.stdin, Stdout: s.stdout, Stderr: s.stderr}
}

// closeChildEnds drops the shim's copies of the container's ends, so that EOF comes when the container's
// processes have closed theirs.
func (s *stdio) closeChildEnds() {
	for _, f := range []*os.File{s.stdin, s.stdout, s.stderr} {
		if f != nil {
			f.Close()
		}
	}
	s.stdin, s.stdout, s.stderr = nil, nil, nil
}

// closeConsoleSocket stops listening; a connection not accepted yet is lost, so this comes after the
// console has arrived or when the create failed (which also unblocks the receiver).
func (s *stdio) closeConsoleSocket() {
	if s.consoleLn != nil {
		s.consoleLn.Close()
		_ = os.Remove(s.consoleSock)
		s.consoleLn = nil
	}
}

// awaitConsole takes the pty master the runtime has sent.
func (s *stdio) awaitConsole(ctx context.Context) error {
	if !s.tty {
		return nil
	}
	defer s.closeConsoleSocket()
	select {
	case r := <-s.consoleCh:
		if r.err != nil {
			return fmt.Errorf("receive console: %w", r.err)
		}
		s.console = r.f
		return nil
	case <-ctx.Done():
		return fmt.Errorf("receive console: %w", ctx.Err())
	}
}

func (s *stdio) closeAll() {
	s.closeConsoleSocket()
	for _, f := range []*os.File{s.stdinW, s.stdoutR, s.stderrR, s.console} {
		if f != nil {
			f.Close()
		}
	}
}

// start copies the container's output into log (closed when every stream has ended) and returns the
// container's stdin writer (nil without stdin).
func (s *stdio) start(log *criLog) io.Closer {
	var wg sync.WaitGroup
	copyStream := func(stream string, f *os.File, tty bool, keep bool) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			log.copy(stream, f, tty)
			if !keep {
				f.Close()
			}
		}()
	}
	var stdin io.Closer
	if s.tty {
		copyStream("stdout", s.console, true, s.keepStdin)
		if s.keepStdin {
			stdin = s.console
		}
	} else {
		copyStream("stdout", s.stdoutR, false, false)
		copyStream("stderr", s.stderrR, false, false)
		if s.stdinW != nil {
			stdin = s.stdinW
		}
	}
	go func() {
		wg.Wait()
		log.Close()
	}()
	return stdin
}

// receiveConsole accepts the runtime's connection and takes the pty master from its SCM_RIGHTS message.
func receiveConsole(ln *net.UnixListener) (*os.File, error) {
	conn, err := ln.AcceptUnix()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	buf := make([]byte, 256)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, err
	}
	if len(msgs) != 1 {
		return nil, fmt.Errorf("expected 1 control message, got %d", len(msgs))
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil {
		return nil, err
	}
	if len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("expected 1 console fd, got %d", len(fds))
	}
	// Non-blocking, so that reads go through the poller instead of holding an OS thread per terminal.
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		return nil, err
	}
	return os.NewFile(uintptr(fds[0]), "console"), nil
}
