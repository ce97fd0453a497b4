package client

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zocket-go/zocket/protocol"
)

func TestConfigDefaults(t *testing.T) {
	for _, opts := range []*Options{nil, {}} {
		c, err := newConfig(opts)
		if err != nil {
			t.Fatal(err)
		}
		if c.dialTimeout != 10*time.Second || c.callTimeout != 30*time.Second ||
			c.writeTimeout != 10*time.Second || c.pingInterval != 30*time.Second ||
			c.readLimit != 16<<20 || c.eventBuffer != 1024 || c.log == nil {
			t.Errorf("defaults: %+v", c)
		}
		want := ReconnectPolicy{MinDelay: 250 * time.Millisecond, MaxDelay: 10 * time.Second, Jitter: 0.5}
		if c.reconnect != want {
			t.Errorf("reconnect defaults: %+v, want %+v", c.reconnect, want)
		}
	}
}

func TestConfigSpecialValues(t *testing.T) {
	c, err := newConfig(&Options{
		DialTimeout:  -1,
		CallTimeout:  -1,
		PingInterval: -1,
		ReadLimit:    -5,
		Reconnect:    &ReconnectPolicy{MinDelay: time.Minute, Jitter: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.dialTimeout >= 0 || c.callTimeout >= 0 || c.pingInterval >= 0 {
		t.Errorf("negative durations must mean none: %+v", c)
	}
	if c.readLimit != -1 {
		t.Errorf("readLimit = %d, want -1", c.readLimit)
	}
	if c.reconnect.MaxDelay != time.Minute || c.reconnect.Jitter != 0 {
		t.Errorf("reconnect: %+v", c.reconnect)
	}
}

func TestConfigInvalid(t *testing.T) {
	for name, o := range map[string]*Options{
		"WriteTimeout": {WriteTimeout: -1},
		"EventBuffer":  {EventBuffer: -1},
		"MinDelay":     {Reconnect: &ReconnectPolicy{MinDelay: -1}},
		"MaxDelay":     {Reconnect: &ReconnectPolicy{MaxDelay: -1}},
		"Max<Min":      {Reconnect: &ReconnectPolicy{MinDelay: time.Second, MaxDelay: time.Millisecond}},
		"Jitter":       {Reconnect: &ReconnectPolicy{Jitter: 1.5}},
		"MaxAttempts":  {Reconnect: &ReconnectPolicy{MaxAttempts: -1}},
	} {
		_, err := newConfig(o)
		// One sentinel for every Zocket configuration, under the client's
		// name too; the text still says which package refused.
		if !errors.Is(err, ErrInvalidOption) || !errors.Is(err, protocol.ErrInvalidOption) ||
			!strings.HasPrefix(fmt.Sprint(err), "client: invalid option: ") {
			t.Errorf("%s: err = %v, want client's ErrInvalidOption", name, err)
		}
	}
}

func TestBackoffDelay(t *testing.T) {
	p, err := (&ReconnectPolicy{MinDelay: 100 * time.Millisecond, MaxDelay: time.Second, Jitter: 0.5}).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		n    int
		rnd  float64
		want time.Duration
	}{
		{0, 0, 100 * time.Millisecond},
		{1, 0, 200 * time.Millisecond},
		{2, 0, 400 * time.Millisecond},
		{3, 0, 800 * time.Millisecond},
		{4, 0, time.Second},
		{1000, 0, time.Second}, // no overflow
		{0, 0.5, 75 * time.Millisecond},
		{4, 0.999999, 500*time.Millisecond + 500*time.Nanosecond},
	}
	for _, tt := range tests {
		if got := p.delay(tt.n, tt.rnd); got != tt.want {
			t.Errorf("delay(%d, %v) = %v, want %v", tt.n, tt.rnd, got, tt.want)
		}
	}
	huge, _ := (&ReconnectPolicy{MinDelay: 1, MaxDelay: 1<<62 + 1, Jitter: -1}).withDefaults()
	if got := huge.delay(100, 0); got != 1<<62+1 {
		t.Errorf("delay near the int64 limit: %v", got)
	}
	noJitter, _ := (&ReconnectPolicy{Jitter: -1}).withDefaults()
	if got := noJitter.delay(0, 0.9); got != 250*time.Millisecond {
		t.Errorf("without jitter: %v", got)
	}
}

func TestDialURL(t *testing.T) {
	tests := []struct {
		url, token, want string
	}{
		{"ws://h:1/", "", "ws://h:1/"},
		{"ws://h:1/", "s3cret", "ws://h:1/?token=s3cret"},
		{"wss://h/x?token=old&a=b", "new+/", "wss://h/x?a=b&token=new%2B%2F"},
		{"http://h/", "t", "http://h/?token=t"},
	}
	for _, tt := range tests {
		got, _, err := dialURL(tt.url, tt.token)
		if err != nil || got != tt.want {
			t.Errorf("dialURL(%q, %q) = %q, %v; want %q", tt.url, tt.token, got, err, tt.want)
		}
	}
	for _, bad := range []string{"ftp://h/?token=s3cret", "ws://h:bad port/?token=s3cret", "h/?token=s3cret"} {
		_, _, err := dialURL(bad, "")
		if err == nil {
			t.Errorf("dialURL(%q) accepted", bad)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("dialURL(%q) leaks the token: %v", bad, err)
		}
	}
	if got := redactURL("ws://u:p@h/?token=s3cret&a=1"); strings.Contains(got, "s3cret") || strings.Contains(got, "u:p") {
		t.Errorf("redactURL: %q", got)
	}
}
