package natstransport

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket/protocol"
)

// Defaults of StreamSettings.
const (
	DefaultInboundMaxAge  = 60 * time.Second
	DefaultOutboundMaxAge = 30 * time.Second
	DefaultReplicas       = 1
	// DefaultInboundMaxConsumers leaves room for one durable per actor type
	// of many projects sharing one NATS account. nats-server caps a stream
	// at 1,000 consumers unless the stream sets a positive limit.
	DefaultInboundMaxConsumers = 10_000
	// DefaultOutboundMaxConsumers leaves room for about 12,000 concurrent
	// sessions, each with one ordered consumer, plus consumers of sessions
	// whose gateway died before deleting them (they linger until their
	// inactive threshold).
	DefaultOutboundMaxConsumers = 16_384
)

// Storage is where the streams keep messages. Its zero value is
// StorageMemory, the seed's default.
type Storage int

const (
	StorageMemory Storage = iota
	StorageFile
)

func (s Storage) String() string {
	switch s {
	case StorageMemory:
		return "memory"
	case StorageFile:
		return "file"
	}
	return "Storage(" + strconv.Itoa(int(s)) + ")"
}

// ParseStorage parses "memory" or "file", as an operator setting.
func ParseStorage(s string) (Storage, error) {
	switch strings.ToLower(s) {
	case "memory", "mem":
		return StorageMemory, nil
	case "file":
		return StorageFile, nil
	}
	return 0, fmt.Errorf("natstransport: %w: storage %q, want memory or file", protocol.ErrInvalidOption, s)
}

// StreamSettings are the operator settings of INBOUND and OUTBOUND. The zero
// value gives the seed's table: memory storage, 60 s and 30 s max age, one
// replica. Every gateway and runtime of a deployment must use the same
// settings, or each boot flips the streams to its own.
type StreamSettings struct {
	// Storage of both streams. Zero means StorageMemory.
	Storage Storage
	// InboundMaxAge is how long an unconsumed client frame stays in
	// INBOUND. Zero means DefaultInboundMaxAge (60 s).
	InboundMaxAge time.Duration
	// OutboundMaxAge is how long a server frame stays in OUTBOUND. Zero
	// means DefaultOutboundMaxAge (30 s).
	OutboundMaxAge time.Duration
	// Replicas of both streams: 1 for a single server, 3 for a NATS cluster
	// (nats-server accepts 1 to 5). Zero means 1.
	Replicas int
	// InboundMaxConsumers caps durable consumers on INBOUND. Zero means
	// DefaultInboundMaxConsumers (10,000).
	InboundMaxConsumers int
	// OutboundMaxConsumers caps consumers on OUTBOUND, one per open
	// session. Zero means DefaultOutboundMaxConsumers (16,384). It must be
	// positive: nats-server 2.15 caps a stream without a positive limit at
	// 1,000 consumers, -1 included.
	OutboundMaxConsumers int
}

// Validate reports invalid settings (protocol.ErrInvalidOption), so a
// process can refuse them before it connects.
func (s StreamSettings) Validate() error {
	_, err := s.withDefaults()
	return err
}

// withDefaults validates s and fills in defaults.
func (s StreamSettings) withDefaults() (StreamSettings, error) {
	if s.Storage != StorageMemory && s.Storage != StorageFile {
		return s, fmt.Errorf("natstransport: %w: storage %v", protocol.ErrInvalidOption, s.Storage)
	}
	if s.InboundMaxAge < 0 || s.OutboundMaxAge < 0 {
		return s, fmt.Errorf("natstransport: %w: negative max age", protocol.ErrInvalidOption)
	}
	if s.Replicas < 0 || s.Replicas > 5 {
		return s, fmt.Errorf("natstransport: %w: replicas %d, want 1 to 5 (1 or 3 in practice)", protocol.ErrInvalidOption, s.Replicas)
	}
	if s.InboundMaxConsumers < 0 || s.OutboundMaxConsumers < 0 {
		return s, fmt.Errorf("natstransport: %w: negative max consumers (-1 does not lift nats-server's cap of 1,000; set a positive limit)", protocol.ErrInvalidOption)
	}
	s.InboundMaxAge = cmp.Or(s.InboundMaxAge, DefaultInboundMaxAge)
	s.OutboundMaxAge = cmp.Or(s.OutboundMaxAge, DefaultOutboundMaxAge)
	s.Replicas = cmp.Or(s.Replicas, DefaultReplicas)
	s.InboundMaxConsumers = cmp.Or(s.InboundMaxConsumers, DefaultInboundMaxConsumers)
	s.OutboundMaxConsumers = cmp.Or(s.OutboundMaxConsumers, DefaultOutboundMaxConsumers)
	return s, nil
}

func (s Storage) jetstream() jetstream.StorageType {
	if s == StorageFile {
		return jetstream.FileStorage
	}
	return jetstream.MemoryStorage
}

// InboundStreamConfig returns the INBOUND stream config for s: subjects
// inbound.>, work-queue retention, s's storage, max age, replicas and max
// consumers. It returns protocol.ErrInvalidOption for invalid settings.
func InboundStreamConfig(s StreamSettings) (jetstream.StreamConfig, error) {
	s, err := s.withDefaults()
	if err != nil {
		return jetstream.StreamConfig{}, err
	}
	return jetstream.StreamConfig{
		Name:         InboundStream,
		Subjects:     []string{InboundPrefix + ".>"},
		Retention:    jetstream.WorkQueuePolicy,
		Storage:      s.Storage.jetstream(),
		MaxAge:       s.InboundMaxAge,
		Replicas:     s.Replicas,
		MaxConsumers: s.InboundMaxConsumers,
	}, nil
}

// OutboundStreamConfig returns the OUTBOUND stream config for s: subjects
// outbound.>, limits retention, s's storage, max age, replicas and max
// consumers. It returns protocol.ErrInvalidOption for invalid settings.
func OutboundStreamConfig(s StreamSettings) (jetstream.StreamConfig, error) {
	s, err := s.withDefaults()
	if err != nil {
		return jetstream.StreamConfig{}, err
	}
	return jetstream.StreamConfig{
		Name:         OutboundStream,
		Subjects:     []string{OutboundPrefix + ".>"},
		Retention:    jetstream.LimitsPolicy,
		Storage:      s.Storage.jetstream(),
		MaxAge:       s.OutboundMaxAge,
		Replicas:     s.Replicas,
		MaxConsumers: s.OutboundMaxConsumers,
	}, nil
}

// EnsureStreams creates INBOUND and OUTBOUND with the configs for s, or
// checks and updates them if they exist (see EnsureStream). It is
// idempotent and safe to call at the same time from many goroutines and
// processes.
func EnsureStreams(ctx context.Context, js jetstream.StreamManager, s StreamSettings) error {
	in, err := InboundStreamConfig(s)
	if err != nil {
		return err
	}
	out, err := OutboundStreamConfig(s)
	if err != nil {
		return err
	}
	if _, err := EnsureStream(ctx, js, in); err != nil {
		return err
	}
	_, err = EnsureStream(ctx, js, out)
	return err
}

// ensureAttempts bounds the create/read-back/update cycles of EnsureStream
// and EnsureConsumer: another process deleting the resource in between, or
// an API request left unanswered, starts a new cycle.
const ensureAttempts = 5

// attemptTimeout bounds one JetStream API request of EnsureStream and
// EnsureConsumer in the first cycle; it doubles with every cycle, so five
// cycles wait a minute in all for a slow server. A clustered nats-server
// 2.15 answers only one of several concurrent updates of a stream; the
// others get no reply at all. Giving up on a request and reading the
// resource back turns that silence into a retry instead of a boot that
// hangs until ctx expires.
const attemptTimeout = 2 * time.Second

// attempt runs one API request of cycle n under its timeout. retry reports
// that the request timed out while ctx is still live.
func attempt[T any](ctx context.Context, n int, req func(context.Context) (T, error)) (v T, retry bool, err error) {
	actx, cancel := context.WithTimeout(ctx, attemptTimeout<<n)
	defer cancel()
	v, err = req(actx)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return v, true, err
	}
	return v, false, err
}

// EnsureStream creates the stream want or, if a stream of that name exists,
// compares it with want field by field (subjects, retention, storage,
// max_age, num_replicas, max_consumers, no_ack, sealed, mirror).
//
// Fields that nats-server can update are updated in place, keeping the
// stream's other settings. If a field cannot be updated (storage, sealed,
// mirror, or retention to or from work queue), nothing is changed and the
// error is a *MismatchError naming the fields (errors.Is ErrConfigMismatch).
// Concurrent calls from several processes are safe: a lost create race is
// resolved by reading the stream back, an unanswered request by trying
// again.
func EnsureStream(ctx context.Context, js jetstream.StreamManager, want jetstream.StreamConfig) (jetstream.Stream, error) {
	var lastErr error
	for n := range ensureAttempts {
		s, retry, err := attempt(ctx, n, func(ctx context.Context) (jetstream.Stream, error) { return js.CreateStream(ctx, want) })
		switch {
		case retry:
			lastErr = err
			continue
		case err == nil:
		case errors.Is(err, jetstream.ErrStreamNameAlreadyInUse):
			// Exists with another config, or another process won a race.
			s, retry, err = attempt(ctx, n, func(ctx context.Context) (jetstream.Stream, error) { return js.Stream(ctx, want.Name) })
			if retry || errors.Is(err, jetstream.ErrStreamNotFound) {
				lastErr = err // unanswered, or deleted in between: start over
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("natstransport: ensure stream %s: read back: %w", want.Name, err)
			}
		default:
			return nil, fmt.Errorf("natstransport: ensure stream %s: create: %w", want.Name, err)
		}
		have := s.CachedInfo().Config
		update, fixed := streamDiffs(have, want)
		if len(fixed) > 0 {
			return nil, &MismatchError{Kind: "stream", Name: want.Name, Fixed: fixed, Other: update}
		}
		if len(update) == 0 {
			return s, nil
		}
		cfg := applyStreamUpdates(have, want)
		s, retry, err = attempt(ctx, n, func(ctx context.Context) (jetstream.Stream, error) { return js.UpdateStream(ctx, cfg) })
		if retry || errors.Is(err, jetstream.ErrStreamNotFound) {
			lastErr = err // the next round reads back what the server did
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("natstransport: ensure stream %s: update %s: %w", want.Name, diffList(update), err)
		}
		if update, fixed := streamDiffs(s.CachedInfo().Config, want); len(update)+len(fixed) > 0 {
			return nil, fmt.Errorf("natstransport: ensure stream %s: server kept %s after update", want.Name, diffList(append(fixed, update...)))
		}
		return s, nil
	}
	return nil, fmt.Errorf("natstransport: ensure stream %s: gave up after %d attempts: %w", want.Name, ensureAttempts, lastErr)
}

// streamDiffs compares the fields of a stream that Zocket relies on. update
// holds those nats-server can change in place, fixed those it cannot.
func streamDiffs(have, want jetstream.StreamConfig) (update, fixed []FieldDiff) {
	add := func(list *[]FieldDiff, field string, h, w any) {
		*list = append(*list, FieldDiff{Field: field, Have: fmt.Sprint(h), Want: fmt.Sprint(w)})
	}
	if !slices.Equal(sortedCopy(have.Subjects), sortedCopy(want.Subjects)) {
		add(&update, "subjects", have.Subjects, want.Subjects)
	}
	if have.Retention != want.Retention {
		if have.Retention == jetstream.WorkQueuePolicy || want.Retention == jetstream.WorkQueuePolicy {
			add(&fixed, "retention", have.Retention, want.Retention)
		} else {
			add(&update, "retention", have.Retention, want.Retention)
		}
	}
	if have.Storage != want.Storage {
		add(&fixed, "storage", have.Storage, want.Storage)
	}
	if have.MaxAge != want.MaxAge {
		add(&update, "max_age", have.MaxAge, want.MaxAge)
	}
	if max(have.Replicas, 1) != max(want.Replicas, 1) {
		add(&update, "num_replicas", have.Replicas, want.Replicas)
	}
	if have.MaxConsumers != want.MaxConsumers {
		add(&update, "max_consumers", have.MaxConsumers, want.MaxConsumers)
	}
	if have.NoAck != want.NoAck {
		add(&update, "no_ack", have.NoAck, want.NoAck)
	}
	if have.Sealed != want.Sealed {
		add(&fixed, "sealed", have.Sealed, want.Sealed)
	}
	if (have.Mirror == nil) != (want.Mirror == nil) {
		add(&fixed, "mirror", have.Mirror != nil, want.Mirror != nil)
	}
	return update, fixed
}

// applyStreamUpdates returns have with the updatable compared fields taken
// from want; every other setting of the existing stream is kept.
func applyStreamUpdates(have, want jetstream.StreamConfig) jetstream.StreamConfig {
	cfg := have
	cfg.Subjects = slices.Clone(want.Subjects)
	cfg.Retention = want.Retention
	cfg.MaxAge = want.MaxAge
	cfg.Replicas = want.Replicas
	cfg.MaxConsumers = want.MaxConsumers
	cfg.NoAck = want.NoAck
	if cfg.MaxAge > 0 && cfg.Duplicates > cfg.MaxAge {
		// The server rejects a duplicate window longer than the max age;
		// zero lets it pick min(2 min, max age) again.
		cfg.Duplicates = 0
	}
	return cfg
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func diffList(diffs []FieldDiff) string {
	parts := make([]string, len(diffs))
	for i, d := range diffs {
		parts[i] = d.String()
	}
	return strings.Join(parts, "; ")
}
