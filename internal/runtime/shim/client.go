package shim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
)

// Client talks to the shim of one pod. It holds no connection: every call dials the socket, so a Client
// made after an agent restart works like the first one.
type Client struct {
	runDir string
}

// NewClient returns a client for the shim whose run directory is runDir.
func NewClient(runDir string) *Client { return &Client{runDir: runDir} }

// RunDir is the pod's run directory.
func (c *Client) RunDir() string { return c.runDir }

// Error is a request the shim refused or failed; Message carries the OCI runtime's text when the runtime
// failed.
type Error struct {
	Op, ID   string
	Message  string
	notFound bool
}

func (e *Error) Error() string {
	if e.ID == "" {
		return fmt.Sprintf("shim %s: %s", e.Op, e.Message)
	}
	return fmt.Sprintf("shim %s %s: %s", e.Op, e.ID, e.Message)
}

// ErrNotFound matches errors about a container the shim does not know.
var ErrNotFound = errors.New("container not found")

// Is makes errors.Is(err, ErrNotFound) true for unknown containers.
func (e *Error) Is(target error) bool { return target == ErrNotFound && e.notFound }

func (c *Client) call(ctx context.Context, req Request) (*Response, error) {
	req.Version = ProtocolVersion
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", SocketPath(c.runDir))
	if err != nil {
		return nil, fmt.Errorf("shim %s: %w", req.Op, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	data, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("shim %s: %w", req.Op, err)
	}
	if _, err := conn.Write(append(data, '\n')); err != nil {
		return nil, fmt.Errorf("shim %s: %w", req.Op, ctxErr(ctx, err))
	}
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("shim %s: read response: %w", req.Op, ctxErr(ctx, err))
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return nil, fmt.Errorf("shim %s: decode response: %w", req.Op, err)
	}
	if resp.Error != "" {
		return nil, &Error{Op: req.Op, ID: req.ID, Message: resp.Error, notFound: resp.NotFound}
	}
	return &resp, nil
}

// ctxErr reports a connection cut short by ctx as ctx's error; the connection's deadline (ctx's) may
// fire a moment before ctx itself is done.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if _, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) {
		return context.DeadlineExceeded
	}
	return err
}

// State returns the sandbox and its containers.
func (c *Client) State(ctx context.Context) (*State, error) {
	resp, err := c.call(ctx, Request{Op: OpState})
	if err != nil {
		return nil, err
	}
	if resp.State == nil {
		return nil, fmt.Errorf("shim state: empty response")
	}
	return resp.State, nil
}

// Container returns one container's state.
func (c *Client) Container(ctx context.Context, id string) (*ContainerState, error) {
	st, err := c.State(ctx)
	if err != nil {
		return nil, err
	}
	for i := range st.Containers {
		if st.Containers[i].ID == id {
			return &st.Containers[i], nil
		}
	}
	return nil, &Error{Op: OpState, ID: id, Message: "no such container", notFound: true}
}

// WaitContainer blocks until the container has exited (or ctx ends) and returns its final state.
func (c *Client) WaitContainer(ctx context.Context, id string) (*ContainerState, error) {
	resp, err := c.call(ctx, Request{Op: OpWait, ID: id})
	if err != nil {
		return nil, err
	}
	if resp.State == nil || len(resp.State.Containers) != 1 {
		return nil, fmt.Errorf("shim wait %s: empty response", id)
	}
	return &resp.State.Containers[0], nil
}

// ReopenLog makes the shim write a container's log to a new file at its path, after the caller has
// renamed the old one (log rotation).
func (c *Client) ReopenLog(ctx context.Context, id string) error {
	_, err := c.call(ctx, Request{Op: OpReopen, ID: id})
	return err
}

// CreateContainer runs the runtime's create for a bundle the caller has written.
func (c *Client) CreateContainer(ctx context.Context, id string, req CreateRequest) error {
	_, err := c.call(ctx, Request{Op: OpCreate, ID: id, Create: &req})
	return err
}

// StartContainer starts a created container.
func (c *Client) StartContainer(ctx context.Context, id string) error {
	_, err := c.call(ctx, Request{Op: OpStart, ID: id})
	return err
}

// KillContainer signals a container's init (every process of it with all); an exited container is left
// alone.
func (c *Client) KillContainer(ctx context.Context, id string, sig syscall.Signal, all bool) error {
	_, err := c.call(ctx, Request{Op: OpKill, ID: id, Signal: int(sig), All: all})
	return err
}

// DeleteContainer removes a container from the runtime and the shim; force kills it first if it runs.
// Its log file stays.
func (c *Client) DeleteContainer(ctx context.Context, id string, force bool) error {
	_, err := c.call(ctx, Request{Op: OpDelete, ID: id, Force: force})
	return err
}

// Shutdown deletes every container, stops the pause, releases the pod's namespaces, /dev/shm and cgroup,
// removes the shim's files from the run directory and ends the shim.
func (c *Client) Shutdown(ctx context.Context) error {
	_, err := c.call(ctx, Request{Op: OpShutdown})
	return err
}
