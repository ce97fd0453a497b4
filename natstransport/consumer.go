package natstransport

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket/protocol"
)

// Defaults of the consumer configs.
const (
	// DefaultMaxAckPending caps the messages of one actor type in
	// processing at once (the seed's max_ack_pending).
	DefaultMaxAckPending = 256
	// DefaultAckWait is how long a runtime may hold an inbound message
	// before JetStream redelivers it. A handler that runs longer must send
	// in-progress acks.
	DefaultAckWait = 30 * time.Second
	// DefaultOutboundInactiveThreshold is how long the server keeps a
	// session's ordered consumer once nobody pulls from it. A gateway
	// deletes the consumer when the socket closes; the threshold only
	// cleans up after a gateway that died. A live consumer is never idle
	// that long: nats.go keeps a pull request open at all times.
	DefaultOutboundInactiveThreshold = time.Minute
)

// RuntimeConsumerConfig returns the config of the durable INBOUND consumer
// for actorType: durable rt-{ws}-{proj}-{actorType} (see DurableName),
// filter inbound.{ws}.{proj}.{actorType}.>, explicit acks, deliver all,
// ack wait DefaultAckWait and max ack pending maxAckPending (zero means
// DefaultMaxAckPending). Replicas are left at zero, so the consumer has as
// many as the stream. It returns ErrInvalidToken for unusable ids and
// protocol.ErrInvalidOption for a negative maxAckPending.
func RuntimeConsumerConfig(scope Scope, actorType string, maxAckPending int) (jetstream.ConsumerConfig, error) {
	if maxAckPending < 0 {
		return jetstream.ConsumerConfig{}, fmt.Errorf("natstransport: %w: max ack pending %d", protocol.ErrInvalidOption, maxAckPending)
	}
	if maxAckPending == 0 {
		maxAckPending = DefaultMaxAckPending
	}
	durable, err := DurableName(scope, actorType)
	if err != nil {
		return jetstream.ConsumerConfig{}, err
	}
	filter, err := InboundFilter(scope, actorType)
	if err != nil {
		return jetstream.ConsumerConfig{}, err
	}
	return jetstream.ConsumerConfig{
		Durable:       durable,
		FilterSubject: filter,
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait:       DefaultAckWait,
		MaxAckPending: maxAckPending,
	}, nil
}

// OutboundConsumerConfig returns the config of a session's ordered
// consumer on OUTBOUND, for jetstream.JetStream.OrderedConsumer: filtered
// to exactly outbound.{ws}.{proj}.{sessionId}, inactive threshold
// DefaultOutboundInactiveThreshold.
//
// It delivers all messages, not only new ones. Both start the same way, as
// the consumer exists before the session id is announced in the welcome
// frame, so nothing for the session can precede it. They differ when the
// ordered consumer is recreated (after a missed heartbeat or the loss of a
// cluster node) before it delivered anything: nats.go then applies the
// first deliver policy again, and "new" would skip what was published in
// between, while "all" still finds it in the stream.
func OutboundConsumerConfig(scope Scope, sessionID string) (jetstream.OrderedConsumerConfig, error) {
	subject, err := OutboundSubject(scope, sessionID)
	if err != nil {
		return jetstream.OrderedConsumerConfig{}, err
	}
	return jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{subject},
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		InactiveThreshold: DefaultOutboundInactiveThreshold,
	}, nil
}

// EnsureConsumer creates the durable consumer want on stream or, if it
// exists, compares it with want field by field and updates it in place.
// It is idempotent and safe to call at the same time from many goroutines
// and processes.
//
// Compared always: filter subjects, ack_policy, deliver_policy,
// replay_policy, deliver_subject, mem_storage, headers_only. Compared when
// set (non-zero) in want: ack_wait, max_ack_pending, max_deliver,
// num_replicas, inactive_threshold, backoff, opt_start_seq, max_waiting.
// Filter subjects are treated as part of the consumer's identity: a durable
// that exists with other filters is a name clash (see DurableName) and is
// never re-pointed. Differences nats-server cannot update, and filter
// differences, give a *MismatchError (errors.Is ErrConfigMismatch) and
// change nothing; a filter difference comes as a *DurableClashError, which
// wraps the *MismatchError and names the scope the existing consumer
// serves. It returns protocol.ErrInvalidOption when want has no durable name.
func EnsureConsumer(ctx context.Context, js jetstream.StreamConsumerManager, stream string, want jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	if want.Durable == "" {
		return nil, fmt.Errorf("natstransport: %w: consumer config has no durable name", protocol.ErrInvalidOption)
	}
	if want.Name != "" && want.Name != want.Durable {
		return nil, fmt.Errorf("natstransport: %w: consumer name %q differs from durable name %q", protocol.ErrInvalidOption, want.Name, want.Durable)
	}
	label := stream + " > " + want.Durable
	var lastErr error
	for n := range ensureAttempts {
		c, retry, err := attempt(ctx, n, func(ctx context.Context) (jetstream.Consumer, error) { return js.CreateConsumer(ctx, stream, want) })
		switch {
		case retry:
			lastErr = err
			continue
		case err == nil:
		case errors.Is(err, jetstream.ErrConsumerExists):
			c, retry, err = attempt(ctx, n, func(ctx context.Context) (jetstream.Consumer, error) { return js.Consumer(ctx, stream, want.Durable) })
			if retry || errors.Is(err, jetstream.ErrConsumerNotFound) {
				lastErr = err // unanswered, or deleted in between: start over
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("natstransport: ensure consumer %s: read back: %w", label, err)
			}
		default:
			return nil, fmt.Errorf("natstransport: ensure consumer %s: create: %w", label, err)
		}
		have := c.CachedInfo().Config
		update, fixed := consumerDiffs(have, want)
		if len(fixed) > 0 {
			mm := &MismatchError{Kind: "consumer", Name: label, Fixed: fixed, Other: update}
			if hf, wf := filters(have), filters(want); !slices.Equal(hf, wf) {
				return nil, &DurableClashError{Stream: stream, Durable: want.Durable, Have: hf, Want: wf, Mismatch: mm}
			}
			return nil, mm
		}
		if len(update) == 0 {
			return c, nil
		}
		c, retry, err = attempt(ctx, n, func(ctx context.Context) (jetstream.Consumer, error) { return js.UpdateConsumer(ctx, stream, want) })
		if retry || errors.Is(err, jetstream.ErrConsumerDoesNotExist) || errors.Is(err, jetstream.ErrConsumerNotFound) {
			lastErr = err
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("natstransport: ensure consumer %s: update %s: %w", label, diffList(update), err)
		}
		if update, fixed := consumerDiffs(c.CachedInfo().Config, want); len(update)+len(fixed) > 0 {
			return nil, fmt.Errorf("natstransport: ensure consumer %s: server kept %s after update", label, diffList(append(fixed, update...)))
		}
		return c, nil
	}
	return nil, fmt.Errorf("natstransport: ensure consumer %s: gave up after %d attempts: %w", label, ensureAttempts, lastErr)
}

// DurableClashError reports a durable consumer that exists with other
// filter subjects than wanted: another scope or actor type spells the same
// durable name (see DurableName), or an operator re-pointed it. The durable
// is left as it is; errors.As finds the *MismatchError it wraps, and
// errors.Is(err, ErrConfigMismatch) holds.
type DurableClashError struct {
	Stream, Durable string
	Have, Want      []string // filter subjects, sorted: the existing consumer's and ours
	Mismatch        *MismatchError
}

func (e *DurableClashError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "natstransport: durable consumer %s > %s already serves %s, so it cannot serve %s",
		e.Stream, e.Durable, describeFilters(e.Have), describeFilters(e.Want))
	if len(e.Have) == 1 && len(e.Want) == 1 {
		_, _, herr := parseInboundFilter(e.Have[0])
		_, _, werr := parseInboundFilter(e.Want[0])
		if herr == nil && werr == nil {
			b.WriteString(" (durable names rt-{ws}-{proj}-{actorType} keep '-' as written, so both spell this name)")
		}
	}
	b.WriteString("; it is left as it is: change one of the ids, or delete the consumer if its scope is gone")
	return b.String()
}

// Unwrap returns the *MismatchError, so that errors.Is(err,
// ErrConfigMismatch) holds.
func (e *DurableClashError) Unwrap() error { return e.Mismatch }

// describeFilters names the scope and actor type of a runtime consumer
// filter, or quotes other filters as they are.
func describeFilters(fs []string) string {
	if len(fs) == 1 {
		if scope, actorType, err := parseInboundFilter(fs[0]); err == nil {
			return fmt.Sprintf("workspace %q, project %q, actor type %q (filter %s)",
				scope.WorkspaceID, scope.ProjectID, actorType, fs[0])
		}
	}
	return fmt.Sprintf("filter subjects %q", fs)
}

// consumerDiffs compares consumer configs; see EnsureConsumer for the
// fields. update holds those nats-server can change in place.
func consumerDiffs(have, want jetstream.ConsumerConfig) (update, fixed []FieldDiff) {
	add := func(list *[]FieldDiff, field string, h, w any) {
		*list = append(*list, FieldDiff{Field: field, Have: fmt.Sprint(h), Want: fmt.Sprint(w)})
	}
	if hf, wf := filters(have), filters(want); !slices.Equal(hf, wf) {
		add(&fixed, "filter_subjects", hf, wf)
	}
	if have.AckPolicy != want.AckPolicy {
		add(&fixed, "ack_policy", have.AckPolicy, want.AckPolicy)
	}
	if have.DeliverPolicy != want.DeliverPolicy {
		add(&fixed, "deliver_policy", have.DeliverPolicy, want.DeliverPolicy)
	}
	if have.ReplayPolicy != want.ReplayPolicy {
		add(&fixed, "replay_policy", have.ReplayPolicy, want.ReplayPolicy)
	}
	if have.DeliverSubject != want.DeliverSubject {
		add(&fixed, "deliver_subject", have.DeliverSubject, want.DeliverSubject)
	}
	if have.MemoryStorage != want.MemoryStorage {
		add(&fixed, "mem_storage", have.MemoryStorage, want.MemoryStorage)
	}
	if want.OptStartSeq != 0 && have.OptStartSeq != want.OptStartSeq {
		add(&fixed, "opt_start_seq", have.OptStartSeq, want.OptStartSeq)
	}
	if want.MaxWaiting != 0 && have.MaxWaiting != want.MaxWaiting {
		add(&fixed, "max_waiting", have.MaxWaiting, want.MaxWaiting)
	}
	if have.HeadersOnly != want.HeadersOnly {
		add(&update, "headers_only", have.HeadersOnly, want.HeadersOnly)
	}
	if want.AckWait != 0 && have.AckWait != want.AckWait {
		add(&update, "ack_wait", have.AckWait, want.AckWait)
	}
	if want.MaxAckPending != 0 && have.MaxAckPending != want.MaxAckPending {
		add(&update, "max_ack_pending", have.MaxAckPending, want.MaxAckPending)
	}
	if want.MaxDeliver != 0 && have.MaxDeliver != want.MaxDeliver {
		add(&update, "max_deliver", have.MaxDeliver, want.MaxDeliver)
	}
	if want.Replicas != 0 && have.Replicas != want.Replicas {
		add(&update, "num_replicas", have.Replicas, want.Replicas)
	}
	if want.InactiveThreshold != 0 && have.InactiveThreshold != want.InactiveThreshold {
		add(&update, "inactive_threshold", have.InactiveThreshold, want.InactiveThreshold)
	}
	if len(want.BackOff) != 0 && !slices.Equal(have.BackOff, want.BackOff) {
		add(&update, "backoff", have.BackOff, want.BackOff)
	}
	return update, fixed
}

// filters returns a consumer's filter subjects, sorted, whether set as
// FilterSubject or FilterSubjects.
func filters(c jetstream.ConsumerConfig) []string {
	f := slices.Clone(c.FilterSubjects)
	if c.FilterSubject != "" {
		f = append(f, c.FilterSubject)
	}
	slices.Sort(f)
	return f
}

// ConsumedSessions returns the ids of scope's sessions that have a consumer
// on OUTBOUND, read from the filter subjects of all its consumers (their
// names are each gateway's choice; this package's gateway uses the session
// id, others need not). A gateway
// deletes a session's consumer when the socket closes and the server drops
// one nobody pulls from after its inactive threshold, so a session missing
// here for longer than that has no gateway left. It lists every consumer
// of the stream: meant for occasional sweeps, not per message. On error
// the result is incomplete and must not be used.
func ConsumedSessions(ctx context.Context, js jetstream.StreamManager, scope Scope) (map[string]struct{}, error) {
	stream, err := js.Stream(ctx, OutboundStream)
	if err != nil {
		return nil, fmt.Errorf("list %s consumers: %w", OutboundStream, err)
	}
	lister := stream.ListConsumers(ctx)
	sessions := make(map[string]struct{})
	for info := range lister.Info() {
		for _, subject := range filters(info.Config) {
			sc, id, err := parseOutboundSubject(subject)
			if err == nil && sc == scope {
				sessions[id] = struct{}{}
			}
		}
	}
	if err := lister.Err(); err != nil {
		return nil, fmt.Errorf("list %s consumers: %w", OutboundStream, err)
	}
	return sessions, nil
}
