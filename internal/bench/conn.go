package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/zocket-go/zocket/protocol"
)

// maxFrame is the read limit on the tool's sockets: large enough for any
// snapshot a demo actor sends.
const maxFrame = 64 << 20

// conn is one WebSocket to the server under test. Reads and writes use a
// context without a deadline (coder/websocket then arms no timer per
// frame); a blocked call is ended by closing the connection.
type conn struct {
	ws  *websocket.Conn
	buf bytes.Buffer
}

// target checks what every mode against a server needs: its URL
// (normalized) and the options (with defaults).
func target(rawURL string, o Options) (string, Options, error) {
	u, err := normalizeURL(rawURL)
	if err != nil {
		return "", o, err
	}
	o, err = o.withDefaults()
	return u, o, err
}

// normalizeURL checks a server URL and turns http(s) into ws(s).
func normalizeURL(raw string) (string, error) {
	if raw == "" {
		return "", fmt.Errorf("bench: %w: -url is required (for example -url ws://localhost:3000/)", protocol.ErrInvalidOption)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("bench: %w: -url %q: %v", protocol.ErrInvalidOption, raw, err)
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("bench: %w: -url %q: scheme must be ws, wss, http or https", protocol.ErrInvalidOption, raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("bench: %w: -url %q has no host", protocol.ErrInvalidOption, raw)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u.String(), nil
}

// dialer opens the tool's connections: one HTTP client without idle pools
// (an upgraded connection never returns to one).
type dialer struct {
	url     string
	timeout time.Duration
	opts    *websocket.DialOptions
}

// newDialer makes a dialer for u with opts' connect timeout, dialing from
// opts.LocalAddrs in turn when there are any.
func newDialer(u string, opts Options) *dialer {
	tr := &http.Transport{DisableKeepAlives: true, Proxy: nil}
	if addrs := opts.LocalAddrs; len(addrs) > 0 {
		var next atomic.Uint64
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			la := addrs[(next.Add(1)-1)%uint64(len(addrs))]
			d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(la, 0)), Control: bindAddressNoPort}
			return d.DialContext(ctx, network, addr)
		}
	}
	return &dialer{url: u, timeout: opts.ConnectTimeout, opts: &websocket.DialOptions{
		HTTPClient:      &http.Client{Transport: tr},
		CompressionMode: websocket.CompressionDisabled,
	}}
}

// dial opens a connection and, when welcome is set, waits for the server's
// welcome frame, all within the dialer's timeout.
func (d *dialer) dial(ctx context.Context, welcome bool) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, d.url, d.opts)
	if err != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: no WebSocket handshake with %s within %v", ErrUnreachable, d.url, d.timeout)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, d.url, err)
	}
	ws.SetReadLimit(maxFrame)
	c := &conn{ws: ws}
	if !welcome {
		return c, nil
	}
	data, err := c.readCtx(ctx)
	if err != nil {
		c.close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: no welcome frame from %s within %v", ErrUnreachable, d.url, d.timeout)
		}
		return nil, fmt.Errorf("%w: reading welcome from %s: %v", ErrUnreachable, d.url, err)
	}
	var f frame
	if err := scanFrame(data, &f); err != nil || string(f.typ) != "welcome" {
		c.close()
		return nil, fmt.Errorf("%w: first frame from %s is not a welcome: %.200s", ErrProtocol, d.url, data)
	}
	return c, nil
}

// read returns the next message; the slice is valid until the next read.
func (c *conn) read() ([]byte, error) { return c.readCtx(context.Background()) }

func (c *conn) readCtx(ctx context.Context) ([]byte, error) {
	_, r, err := c.ws.Reader(ctx)
	if err != nil {
		return nil, err
	}
	c.buf.Reset()
	if _, err := c.buf.ReadFrom(r); err != nil {
		return nil, err
	}
	return c.buf.Bytes(), nil
}

func (c *conn) write(b []byte) error {
	return c.ws.Write(context.Background(), websocket.MessageText, b)
}

// close drops the connection at once (no closing handshake: the tool is
// often closing thousands, and a stuck server must not hold it).
func (c *conn) close() { _ = c.ws.CloseNow() }

// closeParallel runs close for every i < n at once and waits for all:
// coder/websocket's CloseNow can wait up to 15 s for a connection whose peer
// started a close handshake, and one such wait must not add up with the
// others.
func closeParallel(n int, close func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { close(i) })
	}
	wg.Wait()
}

// shortErr trims long wrapped errors for the summary.
func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); len(s) > 160 && i > 0 {
		s = s[i+2:]
	}
	return s
}
