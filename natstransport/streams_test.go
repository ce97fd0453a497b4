package natstransport_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket/natsembed/natstest"
	"github.com/zocket-go/zocket/natstransport"
	"github.com/zocket-go/zocket/protocol"
)

// ctxT returns a context bounded by the test's deadline and a minute.
func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func streamConfig(t *testing.T, js jetstream.JetStream, name string) jetstream.StreamConfig {
	t.Helper()
	s, err := js.Stream(ctxT(t), name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	return s.CachedInfo().Config
}

// TestStreamConfigsMatchSeed reads the streams back from JetStream and
// checks them against the seed's table, field by field.
func TestStreamConfigsMatchSeed(t *testing.T) {
	t.Parallel()
	js := natstest.JetStream(t, natstest.Run(t))
	if err := natstransport.EnsureStreams(ctxT(t), js, natstransport.StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		subjects  []string
		retention jetstream.RetentionPolicy
		maxAge    time.Duration
		maxCons   int
	}{
		{"INBOUND", []string{"inbound.>"}, jetstream.WorkQueuePolicy, 60 * time.Second, natstransport.DefaultInboundMaxConsumers},
		{"OUTBOUND", []string{"outbound.>"}, jetstream.LimitsPolicy, 30 * time.Second, natstransport.DefaultOutboundMaxConsumers},
	}
	for _, tt := range tests {
		cfg := streamConfig(t, js, tt.name)
		if cfg.Name != tt.name {
			t.Errorf("%s: name %q", tt.name, cfg.Name)
		}
		if !slices.Equal(cfg.Subjects, tt.subjects) {
			t.Errorf("%s: subjects %v, want %v", tt.name, cfg.Subjects, tt.subjects)
		}
		if cfg.Retention != tt.retention {
			t.Errorf("%s: retention %v, want %v", tt.name, cfg.Retention, tt.retention)
		}
		if cfg.Storage != jetstream.MemoryStorage {
			t.Errorf("%s: storage %v, want Memory", tt.name, cfg.Storage)
		}
		if cfg.MaxAge != tt.maxAge {
			t.Errorf("%s: max age %v, want %v", tt.name, cfg.MaxAge, tt.maxAge)
		}
		if cfg.Replicas != 1 {
			t.Errorf("%s: replicas %d, want 1", tt.name, cfg.Replicas)
		}
		if cfg.MaxConsumers != tt.maxCons {
			t.Errorf("%s: max consumers %d, want %d", tt.name, cfg.MaxConsumers, tt.maxCons)
		}
		if cfg.NoAck || cfg.Sealed || cfg.Mirror != nil {
			t.Errorf("%s: no_ack %v, sealed %v, mirror %v; want none", tt.name, cfg.NoAck, cfg.Sealed, cfg.Mirror)
		}
	}
	names := js.StreamNames(ctxT(t))
	var got []string
	for n := range names.Name() {
		got = append(got, n)
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"INBOUND", "OUTBOUND"}) {
		t.Errorf("streams %v, want exactly INBOUND and OUTBOUND", got)
	}
}

func TestStreamSettingsApplied(t *testing.T) {
	t.Parallel()
	js := natstest.JetStream(t, natstest.Run(t))
	settings := natstransport.StreamSettings{
		Storage: natstransport.StorageFile, InboundMaxAge: 2 * time.Minute, OutboundMaxAge: 10 * time.Second,
		InboundMaxConsumers: 50, OutboundMaxConsumers: 2000,
	}
	if err := natstransport.EnsureStreams(ctxT(t), js, settings); err != nil {
		t.Fatal(err)
	}
	in, out := streamConfig(t, js, "INBOUND"), streamConfig(t, js, "OUTBOUND")
	if in.Storage != jetstream.FileStorage || out.Storage != jetstream.FileStorage {
		t.Errorf("storage %v/%v, want File", in.Storage, out.Storage)
	}
	if in.MaxAge != 2*time.Minute || out.MaxAge != 10*time.Second {
		t.Errorf("max age %v/%v", in.MaxAge, out.MaxAge)
	}
	if in.MaxConsumers != 50 || out.MaxConsumers != 2000 {
		t.Errorf("max consumers %d/%d", in.MaxConsumers, out.MaxConsumers)
	}
	// Same settings again: nothing to do.
	if err := natstransport.EnsureStreams(ctxT(t), js, settings); err != nil {
		t.Fatal(err)
	}
}

func TestStreamSettingsInvalid(t *testing.T) {
	t.Parallel()
	for _, s := range []natstransport.StreamSettings{
		{Storage: 2}, {Storage: -1}, {InboundMaxAge: -1}, {OutboundMaxAge: -time.Second},
		{Replicas: -1}, {Replicas: 6}, {OutboundMaxConsumers: -1}, {InboundMaxConsumers: -1},
	} {
		if _, err := natstransport.InboundStreamConfig(s); !errors.Is(err, protocol.ErrInvalidOption) {
			t.Errorf("InboundStreamConfig(%+v) error = %v, want ErrInvalidOption", s, err)
		}
		if _, err := natstransport.OutboundStreamConfig(s); !errors.Is(err, protocol.ErrInvalidOption) {
			t.Errorf("OutboundStreamConfig(%+v) error = %v, want ErrInvalidOption", s, err)
		}
		if err := s.Validate(); !errors.Is(err, protocol.ErrInvalidOption) {
			t.Errorf("Validate(%+v) error = %v, want ErrInvalidOption", s, err)
		}
		if err := natstransport.EnsureStreams(t.Context(), nil, s); !errors.Is(err, protocol.ErrInvalidOption) {
			t.Errorf("EnsureStreams(%+v) error = %v, want ErrInvalidOption", s, err)
		}
	}
	for in, want := range map[string]natstransport.Storage{"memory": natstransport.StorageMemory, "File": natstransport.StorageFile} {
		if got, err := natstransport.ParseStorage(in); err != nil || got != want {
			t.Errorf("ParseStorage(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := natstransport.ParseStorage("disk"); !errors.Is(err, protocol.ErrInvalidOption) {
		t.Errorf("ParseStorage(disk) error = %v", err)
	}
}

// TestEnsureStreamsConcurrent boots "many processes" at once: goroutines
// sharing a connection and goroutines with their own connections.
func TestEnsureStreamsConcurrent(t *testing.T) {
	t.Parallel()
	srv := natstest.Run(t)
	shared := natstest.JetStream(t, srv)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		js := shared
		if i%2 == 1 {
			js = natstest.JetStream(t, srv) // a separate process, as far as the server can tell
		}
		wg.Go(func() {
			for range 2 {
				if err := natstransport.EnsureStreams(ctxT(t), js, natstransport.StreamSettings{}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if cfg := streamConfig(t, shared, "INBOUND"); cfg.Retention != jetstream.WorkQueuePolicy {
		t.Errorf("INBOUND retention %v", cfg.Retention)
	}
}

func TestEnsureStreamsConflictNamesFields(t *testing.T) {
	t.Parallel()
	js := natstest.JetStream(t, natstest.Run(t))
	ctx := ctxT(t)
	pre := jetstream.StreamConfig{Name: "INBOUND", Subjects: []string{"inbound.>"}, Retention: jetstream.LimitsPolicy,
		Storage: jetstream.FileStorage, MaxAge: time.Hour}
	if _, err := js.CreateStream(ctx, pre); err != nil {
		t.Fatal(err)
	}
	err := natstransport.EnsureStreams(ctx, js, natstransport.StreamSettings{})
	var mm *natstransport.MismatchError
	if !errors.Is(err, natstransport.ErrConfigMismatch) || !errors.As(err, &mm) {
		t.Fatalf("EnsureStreams on a conflicting stream: %v, want a MismatchError", err)
	}
	if got := mm.Fields(); !slices.Equal(got, []string{"retention", "storage"}) {
		t.Errorf("fields %v, want [retention storage]", got)
	}
	for _, s := range []string{"INBOUND", "retention", "storage", "WorkQueue", "max_age"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %s", err, s)
		}
	}
	// Refused means untouched: the stream keeps its max age.
	if cfg := streamConfig(t, js, "INBOUND"); cfg.MaxAge != time.Hour || cfg.Retention != jetstream.LimitsPolicy {
		t.Errorf("conflicting stream was modified: %+v", cfg)
	}
}

func TestEnsureStreamsUpdatesWhatItCan(t *testing.T) {
	t.Parallel()
	js := natstest.JetStream(t, natstest.Run(t))
	ctx := ctxT(t)
	// An older deployment: long max age, no consumer limit, extra subject,
	// interest retention, and an operator's byte limit.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OUTBOUND", Subjects: []string{"outbound.>", "legacy.>"},
		Retention: jetstream.InterestPolicy, Storage: jetstream.MemoryStorage, MaxAge: time.Hour, MaxBytes: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "INBOUND", Subjects: []string{"inbound.>"},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.MemoryStorage, MaxAge: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := natstransport.EnsureStreams(ctx, js, natstransport.StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	out := streamConfig(t, js, "OUTBOUND")
	if out.MaxAge != 30*time.Second || out.MaxConsumers != natstransport.DefaultOutboundMaxConsumers ||
		out.Retention != jetstream.LimitsPolicy || !slices.Equal(out.Subjects, []string{"outbound.>"}) {
		t.Errorf("OUTBOUND not updated: %+v", out)
	}
	if out.MaxBytes != 1<<30 {
		t.Errorf("operator's max bytes lost: %d", out.MaxBytes)
	}
	if out.Duplicates > out.MaxAge {
		t.Errorf("duplicate window %v exceeds max age %v", out.Duplicates, out.MaxAge)
	}
	if in := streamConfig(t, js, "INBOUND"); in.MaxAge != 60*time.Second || in.MaxConsumers != natstransport.DefaultInboundMaxConsumers {
		t.Errorf("INBOUND not updated: max age %v, max consumers %d", in.MaxAge, in.MaxConsumers)
	}
}

func TestEnsureStreamsReplicasOnSingleServer(t *testing.T) {
	t.Parallel()
	js := natstest.JetStream(t, natstest.Run(t))
	err := natstransport.EnsureStreams(ctxT(t), js, natstransport.StreamSettings{Replicas: 3})
	if err == nil || !strings.Contains(err.Error(), "INBOUND") {
		t.Fatalf("three replicas on one server: %v, want an error naming INBOUND", err)
	}
}

// TestEnsureStreamsReplicasOnCluster runs EnsureStreams from every node of
// a three-node cluster at once, then scales a single-replica stream up.
func TestEnsureStreamsReplicasOnCluster(t *testing.T) {
	t.Parallel()
	c := natstest.RunCluster(t, 3)
	var jss []jetstream.JetStream
	for _, srv := range c.Servers() {
		jss = append(jss, natstest.JetStream(t, srv))
	}
	ctx := ctxT(t)
	// OUTBOUND exists at one replica from an earlier single-node setup.
	if _, err := jss[0].CreateStream(ctx, jetstream.StreamConfig{Name: "OUTBOUND", Subjects: []string{"outbound.>"},
		Storage: jetstream.MemoryStorage, MaxAge: 30 * time.Second, Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(jss))
	for _, js := range jss {
		wg.Go(func() {
			if err := natstransport.EnsureStreams(ctx, js, natstransport.StreamSettings{Replicas: 3}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, name := range []string{"INBOUND", "OUTBOUND"} {
		if cfg := streamConfig(t, jss[1], name); cfg.Replicas != 3 {
			t.Errorf("%s has %d replicas, want 3", name, cfg.Replicas)
		}
	}

	// A new max age rolled out to every node at once: the clustered server
	// answers only one of concurrent updates of a stream, and the others
	// must not hang until ctx expires.
	start := time.Now()
	errs = make(chan error, len(jss))
	for _, js := range jss {
		wg.Go(func() {
			if err := natstransport.EnsureStreams(ctx, js, natstransport.StreamSettings{Replicas: 3, InboundMaxAge: 90 * time.Second}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("concurrent updates done in %s", time.Since(start))
	if cfg := streamConfig(t, jss[2], "INBOUND"); cfg.MaxAge != 90*time.Second {
		t.Errorf("INBOUND max age %v, want 90s", cfg.MaxAge)
	}
}
