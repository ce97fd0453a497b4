//go:build unix

package faults

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is one child process. Its stdout and stderr go to a log file and
// to a window of its last lines, which a failing test prints; patterns can
// be awaited in its output.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *procLog
	done chan struct{} // closed once the process has been waited for
	err  error         // its exit status, once done is closed
}

// startProc starts bin with args and env (the whole environment: children
// inherit nothing else, so that no variable of the test's environment
// changes a default) in its own process group, logging to dir/name.log.
// The test's cleanup kills the group.
func startProc(t testing.TB, dir, name, bin string, args, env []string) (*proc, error) {
	f, err := os.OpenFile(filepath.Join(dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	p := &proc{name: name, out: newProcLog(f), done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = procAttr()
	fmt.Fprintf(p.out, "## %s %s\n", bin, strings.Join(args, " "))
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		fmt.Fprintf(p.out, "## exited: %v\n", p.err)
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill() })
	return p, nil
}

// pid returns the process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL to the process group and waits for the process.
func (p *proc) kill() {
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits up to grace for the process to exit, then
// kills it.
func (p *proc) stop(grace time.Duration) {
	_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		p.kill()
	}
}

// await returns the first submatch of the first output line matching re
// (lines already written count), or an error when ctx ends or the process
// exits first.
func (p *proc) await(ctx context.Context, re *regexp.Regexp) (string, error) {
	for {
		m, changed := p.out.find(re)
		if m != nil {
			return m[1], nil
		}
		select {
		case <-changed:
		case <-p.done:
			if m, _ := p.out.find(re); m != nil {
				return m[1], nil
			}
			return "", fmt.Errorf("%s exited (%v) before printing %q", p.name, p.err, re)
		case <-ctx.Done():
			return "", fmt.Errorf("%s: no line matching %q: %w", p.name, re, context.Cause(ctx))
		}
	}
}

// procLog keeps the last lines of a process's output and copies all of it
// to a file.
type procLog struct {
	mu      sync.Mutex
	w       io.Writer
	partial []byte
	lines   []string // the last maxLines whole lines
	seen    int      // lines ever written
	changed chan struct{}
}

const maxLines = 400

func newProcLog(w io.Writer) *procLog { return &procLog{w: w, changed: make(chan struct{})} }

func (l *procLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.w.Write(b)
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
		l.seen++
	}
	if n := len(l.lines); n > maxLines {
		l.lines = append(l.lines[:0:0], l.lines[n-maxLines:]...)
	}
	close(l.changed)
	l.changed = make(chan struct{})
	return len(b), nil
}

// find returns the submatches of the first kept line matching re, and a
// channel closed at the next write.
func (l *procLog) find(re *regexp.Regexp) ([]string, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if m := re.FindStringSubmatch(line); m != nil {
			return m, nil
		}
	}
	return nil, l.changed
}

// tail returns the last n lines.
func (l *procLog) tail(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines[max(0, len(l.lines)-n):]...)
}

// poll checks cond every interval until it holds, ctx ends (the error
// names what and cond's last state) or cond fails for good.
func poll(ctx context.Context, what string, interval time.Duration, cond func() (ok bool, state string, err error)) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		ok, state, err := cond()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last state: %s)", what, context.Cause(ctx), state)
		}
	}
}

var httpClient = &http.Client{Timeout: 2 * time.Second}

// getHealth GETs url and returns the status and body.
func getHealth(ctx context.Context, url string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}

// errExited is returned by waits on a process that exited.
var errExited = errors.New("process exited")
