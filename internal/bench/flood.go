package bench

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/zocket-go/zocket/protocol"
)

// FloodFigures are the figures of an rpc run made beside flooding
// connections (RPCConfig.Flood): what the flooders sent and got back, and
// the same load run alone just before, with the ratios of the two.
type FloodFigures struct {
	// Connections is RPCConfig.Flood. Shared is set when they called the
	// clients' own instance (Load.Shared), not instances of their own.
	Connections int  `json:"connections"`
	Shared      bool `json:"shared,omitempty"`
	// Sent counts the rpc frames the flooders wrote; of their answers,
	// Served carried a result, RateLimited the server's "rate limit
	// exceeded" and OtherErrors any other error.
	Sent        uint64 `json:"frames_sent"`
	Served      uint64 `json:"served"`
	RateLimited uint64 `json:"rate_limited"`
	OtherErrors uint64 `json:"other_errors"`
	// ClosedForFlooding counts the times the server closed a flooder with
	// 1008 "frame rate exceeded"; it then dials again, as an attacker
	// would. Dials counts every connection a flooder opened.
	ClosedForFlooding uint64 `json:"closed_for_flooding"`
	Dials             uint64 `json:"dials"`
	// Alone is the same load without the flood, and Ratio this run over
	// it: a P99 of 2 means the flood doubled the clients' p99.
	Alone *Report `json:"alone"`
	Ratio *Ratio  `json:"ratio"`
}

// floodReason is the close reason of a connection closed for flooding.
const floodReason = "frame rate exceeded"

// flooders run RPCConfig.Flood connections that write calls as fast as
// their sockets take them, without waiting for answers, until stopped.
type flooders struct {
	d    *dialer
	load Load
	figs *FloodFigures

	sent, served, limited, other, closed, dials atomic.Uint64

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startFlooders starts n flooders; each calls load.Method on the clients'
// instance when load.Shared, else on an instance of its own.
func startFlooders(ctx context.Context, d *dialer, load Load, n int) *flooders {
	ctx, cancel := context.WithCancel(ctx)
	f := &flooders{d: d, load: load, cancel: cancel}
	for k := range n {
		frame := protocol.AppendRPC(nil, "flood", load.Actor, load.actorID(load.Clients+k), load.Method, load.Input)
		f.wg.Go(func() { f.run(ctx, frame) })
	}
	return f
}

// run floods with frame over one connection after another until ctx ends.
func (f *flooders) run(ctx context.Context, frame []byte) {
	retry := time.NewTimer(0)
	defer retry.Stop()
	for ctx.Err() == nil {
		c, err := f.d.dial(ctx, true)
		if err != nil { // refused (429, too many connections) or gone: try again soon
			retry.Reset(100 * time.Millisecond)
			select {
			case <-retry.C:
			case <-ctx.Done():
			}
			continue
		}
		f.dials.Add(1)
		stop := context.AfterFunc(ctx, c.close) // unblocks a paced write
		var reader sync.WaitGroup
		reader.Go(func() { f.read(c) })
		for ctx.Err() == nil && c.write(frame) == nil {
			f.sent.Add(1)
		}
		c.close()
		reader.Wait()
		stop()
	}
}

// read counts the answers on c until it ends, and a close for flooding.
func (f *flooders) read(c *conn) {
	var fr frame
	for {
		data, err := c.read()
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) && ce.Code == websocket.StatusPolicyViolation && ce.Reason == floodReason {
				f.closed.Add(1)
			}
			return
		}
		if scanFrame(data, &fr) != nil || string(fr.typ) != protocol.TypeRPCResult {
			continue
		}
		switch {
		case !fr.hasError:
			f.served.Add(1)
		case bytes.Contains(fr.errMsg, []byte(protocol.ErrRateLimited.Error())):
			f.limited.Add(1)
		default:
			f.other.Add(1)
		}
	}
}

// stop ends the flood and returns its figures.
func (f *flooders) stop() *FloodFigures {
	f.cancel()
	f.wg.Wait()
	return &FloodFigures{
		Shared:            f.load.Shared,
		Sent:              f.sent.Load(),
		Served:            f.served.Load(),
		RateLimited:       f.limited.Load(),
		OtherErrors:       f.other.Load(),
		ClosedForFlooding: f.closed.Load(),
		Dials:             f.dials.Load(),
	}
}
