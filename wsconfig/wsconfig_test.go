package wsconfig_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/zocket-go/zocket/protocol"
	"github.com/zocket-go/zocket/wsconfig"
)

func TestWithDefaults(t *testing.T) {
	got, err := wsconfig.Settings{}.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	want := wsconfig.Settings{
		MaxFrameBytes:   wsconfig.DefaultMaxFrameBytes,
		SendQueueBytes:  wsconfig.DefaultSendQueueBytes,
		MaxFrameRate:    wsconfig.DefaultMaxFrameRate,
		WriteTimeout:    wsconfig.DefaultWriteTimeout,
		PingInterval:    wsconfig.DefaultPingInterval,
		MaxConnsPerIP:   wsconfig.DefaultMaxConnsPerIP,
		MaxConnsPerUser: wsconfig.DefaultMaxConnsPerUser,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("zero value gives %+v, want %+v", got, want)
	}
	// Set fields are kept, negative ones that mean "off" included.
	set := wsconfig.Settings{MaxFrameBytes: 1, SendQueueBytes: 2, MaxFrameRate: -1, WriteTimeout: 3, PingInterval: -1,
		MaxConnsPerIP: -1, MaxConnsPerUser: 4, OriginPatterns: []string{"*"}}
	if got, err := set.WithDefaults(); err != nil || !reflect.DeepEqual(got, set) {
		t.Fatalf("WithDefaults(%+v) = %+v, %v; want it unchanged", set, got, err)
	}
}

func TestValidate(t *testing.T) {
	for _, s := range []wsconfig.Settings{{MaxFrameBytes: -1}, {SendQueueBytes: -1}, {WriteTimeout: -1}} {
		if err := s.Validate(); !errors.Is(err, protocol.ErrInvalidOption) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalidOption", s, err)
		}
		if _, err := s.WithDefaults(); !errors.Is(err, protocol.ErrInvalidOption) {
			t.Errorf("WithDefaults(%+v) error = %v, want ErrInvalidOption", s, err)
		}
	}
}

// A pong is due within the longer of PingInterval and WriteTimeout.
func TestPongTimeout(t *testing.T) {
	for _, tc := range []struct{ interval, write, want time.Duration }{
		{30 * time.Second, 10 * time.Second, 30 * time.Second}, // the defaults
		{time.Second, 10 * time.Second, 10 * time.Second},
	} {
		s := wsconfig.Settings{PingInterval: tc.interval, WriteTimeout: tc.write}
		if got := s.PongTimeout(); got != tc.want {
			t.Errorf("PongTimeout with PingInterval %v and WriteTimeout %v = %v, want %v", tc.interval, tc.write, got, tc.want)
		}
	}
}
