package runtime

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket/natstransport"
)

// One runtime serves a scope at a time. Actor state, subscriptions and
// the numbering of session frames live in the runtime's memory, so two
// runtimes consuming the same durable consumers would each keep their own
// copy of every instance and answer from it. The runtime that serves a
// (workspace, project) therefore holds a lease: a key in the JetStream
// key-value bucket natstransport.LeaseBucket, named by
// natstransport.LeaseKey, whose value names the holder. Only the holder
// subscribes and consumes; every other runtime of the scope waits as a
// standby.
//
// Expiry is judged by the standby's own clock, not by the bucket's max
// age: a standby takes over once the key's revision has not changed for
// the holder's TTL (which the holder writes into the value) since the
// standby first read that revision. The bucket is shared by every scope,
// so its max age cannot be each scope's TTL, and no two machines' clocks
// are compared. The holder refreshes with a compare-and-set update every
// TTL/3 and stops consuming when it has not confirmed its lease for 5/6 of
// the TTL, counted from when it sent its last successful update: that is
// never later than any standby's takeover, which comes at least a TTL
// after the server stored that update.

// Role is what a runtime does for its scope, as /health reports it.
type Role string

const (
	// RoleStarting: Run has not yet set up the streams and consumers.
	RoleStarting Role = "starting"
	// RoleStandby: another runtime holds the scope's lease; this one
	// consumes nothing and takes over when the holder stops or goes silent.
	RoleStandby Role = "standby"
	// RoleActive: this runtime holds the lease and serves the scope.
	RoleActive Role = "active"
	// RoleDraining: this runtime stopped consuming and finishes the calls
	// it holds, before it stops or stands by again.
	RoleDraining Role = "draining"
	// RoleStopped: Run has returned.
	RoleStopped Role = "stopped"
)

// Role returns what the runtime does now. Only RoleActive serves.
func (rt *Runtime) Role() Role { return *rt.lease.roleP.Load() }

// leaseBucketMaxAge is how long the lease bucket keeps a key nobody
// writes: it clears the keys of scopes whose runtimes are gone and the
// delete markers of graceful stops. It is far above MaxLeaseTTL, so a live
// holder's key, rewritten every TTL/3, never ages out.
const leaseBucketMaxAge = time.Hour

// leaseValue is the value of a lease key.
type leaseValue struct {
	RuntimeID    string `json:"runtimeId"` // random per Runtime: whose lease it is
	DeploymentID string `json:"deploymentId"`
	Host         string `json:"host,omitempty"`
	TTLMillis    int64  `json:"ttlMs"` // how long a standby waits for a refresh before it takes over
}

// lease is a runtime's hold on its scope's lease key.
type lease struct {
	nc    *nats.Conn
	js    jetstream.JetStream
	cfg   jetstream.KeyValueConfig
	key   string
	id    string // leaseValue.RuntimeID of this runtime
	ttl   time.Duration
	value []byte
	log   *slog.Logger
	roleP atomic.Pointer[Role]

	// kv is set by open, before acquire and hold use it; acquire may open
	// the bucket again (it is gone after a restart of a nats-server that
	// kept it in memory).
	kv jetstream.KeyValue

	// The lease held: written by acquire and hold, read by release. They
	// run one after the other, each started after the previous returned.
	rev      uint64    // the key's revision this runtime last wrote
	lastGood time.Time // when the request that last confirmed the lease was sent
}

func newLease(rt *Runtime) (*lease, error) {
	key, err := natstransport.LeaseKey(rt.cfg.Scope)
	if err != nil {
		return nil, err
	}
	sc, err := natstransport.InboundStreamConfig(rt.cfg.Streams)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname() // only informative
	l := &lease{
		nc: rt.cfg.NATS,
		js: rt.js,
		cfg: jetstream.KeyValueConfig{
			Bucket:      natstransport.LeaseBucket,
			Description: "Zocket: the runtime serving each workspace/project (one key per scope)",
			History:     1,
			TTL:         leaseBucketMaxAge,
			// On disk whatever the streams use: a lease lost with a
			// restart of a nats-server that kept it in memory would stop
			// the holder (it could no longer confirm it) and let any
			// standby take it at once.
			Storage:  jetstream.FileStorage,
			Replicas: sc.Replicas,
		},
		key: key,
		id:  rand.Text()[:16],
		ttl: rt.cfg.LeaseTTL,
		log: rt.log.With(slog.String("lease", natstransport.LeaseBucket+"/"+key)),
	}
	l.value, err = json.Marshal(leaseValue{RuntimeID: l.id, DeploymentID: rt.cfg.DeploymentID, Host: host,
		TTLMillis: rt.cfg.LeaseTTL.Milliseconds()})
	if err != nil {
		return nil, err
	}
	l.setRole(RoleStarting)
	return l, nil
}

func (l *lease) setRole(r Role) { l.roleP.Store(&r) }

// open creates the lease bucket, or binds to it as another runtime made
// it.
func (l *lease) open(ctx context.Context) error {
	kv, err := l.js.CreateKeyValue(ctx, l.cfg)
	var apiErr *jetstream.APIError
	if err != nil && !errors.Is(err, jetstream.ErrBucketExists) && errors.As(err, &apiErr) && l.cfg.Storage == jetstream.FileStorage {
		// The server refused it (no file storage for JetStream): memory
		// works as well while the server runs.
		l.log.LogAttrs(ctx, slog.LevelWarn, "lease bucket kept in memory: a restart of the NATS server loses the lease",
			slog.Any("err", err))
		l.cfg.Storage = jetstream.MemoryStorage
		kv, err = l.js.CreateKeyValue(ctx, l.cfg)
	}
	if errors.Is(err, jetstream.ErrBucketExists) {
		// Made with other settings (an older version, other replicas):
		// the lease works the same in it.
		kv, err = l.js.KeyValue(ctx, l.cfg.Bucket)
	}
	if err != nil {
		return fmt.Errorf("lease bucket %s: %w", l.cfg.Bucket, err)
	}
	l.kv = kv
	return nil
}

// errConnClosed is the reason a runtime whose NATS connection was closed
// stops waiting for the lease.
var errConnClosed = errors.New("NATS connection closed")

// acquire waits as a standby until this runtime holds the lease. It
// returns nil then, ctx's error once ctx ends, or errConnClosed. Errors of
// NATS and JetStream are logged and retried: a standby outlives outages.
func (l *lease) acquire(ctx context.Context) error {
	l.setRole(RoleStandby)
	period := l.ttl / 3
	var (
		watcher jetstream.KeyWatcher
		updates <-chan jetstream.KeyValueEntry
		seen    uint64        // the other holder's revision last read
		seenAt  time.Time     // when seen was first read
		wait    time.Duration // the other holder's TTL
		holder  string        // the other holder's runtime id, for logs
		failing bool
	)
	defer func() {
		if watcher != nil {
			_ = watcher.Stop()
		}
	}()
	for {
		if l.nc.IsClosed() {
			return errConnClosed
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if watcher == nil && l.kv != nil {
			// Wake on every write of the key: a release is taken at once
			// and each refresh restarts the count. Opened before the read
			// below, so no write falls between them. Without a watcher the
			// key is read every period.
			if w, err := l.kv.Watch(ctx, l.key, jetstream.UpdatesOnly()); err == nil {
				watcher, updates = w, w.Updates()
			}
		}
		took, err := l.try(ctx, period, &seen, &seenAt, &wait, &holder)
		if took {
			return nil
		}
		if err != nil && ctx.Err() == nil && !l.nc.IsClosed() {
			if !failing {
				l.log.LogAttrs(ctx, slog.LevelWarn, "standby cannot read the lease; retrying", slog.Any("err", err))
			}
			failing = true
			// The bucket may be gone with a nats-server that kept it in
			// memory; make it again (a no-op when it exists).
			octx, cancel := context.WithTimeout(ctx, period)
			if oerr := l.open(octx); oerr != nil {
				l.log.LogAttrs(ctx, slog.LevelDebug, "open lease bucket", slog.Any("err", oerr))
			}
			cancel()
		} else if err == nil && failing {
			failing = false
			l.log.LogAttrs(ctx, slog.LevelInfo, "standby reads the lease again")
		}

		next := period
		if err == nil && seen != 0 {
			next = min(next, max(time.Until(seenAt.Add(wait)), 0))
		}
		timer := time.NewTimer(next)
		select {
		case _, ok := <-updates:
			if !ok {
				watcher, updates = nil, nil // reopened on the next round
			}
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
	}
}

// try makes one attempt to get the lease: it creates the key when nobody
// holds it, takes its own lease back, or takes over a holder silent for
// its TTL. The other holder's revision, when first read, its TTL and its
// id are kept across attempts in *seen, *seenAt, *wait and *holder.
func (l *lease) try(ctx context.Context, timeout time.Duration, seen *uint64, seenAt *time.Time, wait *time.Duration, holder *string) (bool, error) {
	if l.kv == nil {
		return false, errors.New("no lease bucket")
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	e, err := l.kv.Get(rctx, l.key)
	if errors.Is(err, jetstream.ErrKeyNotFound) { // never written, released or aged out
		sent := time.Now()
		rev, err := l.kv.Create(rctx, l.key, l.value)
		if errors.Is(err, jetstream.ErrKeyExists) {
			return false, nil // another standby was faster; read it on the next round
		}
		if err != nil {
			return false, fmt.Errorf("create lease: %w", err)
		}
		l.took(rev, sent)
		l.log.LogAttrs(ctx, slog.LevelInfo, "lease acquired", slog.String("runtime_id", l.id), slog.Duration("ttl", l.ttl))
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("read lease: %w", err)
	}
	var v leaseValue
	if json.Unmarshal(e.Value(), &v) != nil {
		v = leaseValue{} // not ours to read: wait our own TTL
	}
	switch {
	case v.RuntimeID == l.id:
		// Ours from a term that stopped consuming because it could not
		// confirm the lease; nobody took it since.
		return l.update(rctx, e.Revision(), "lease taken back", slog.Uint64("revision", e.Revision()))
	case e.Revision() != *seen:
		*seen, *seenAt = e.Revision(), time.Now()
		switch *wait = time.Duration(v.TTLMillis) * time.Millisecond; {
		case *wait > MaxLeaseTTL:
			*wait = MaxLeaseTTL
		case *wait < MinLeaseTTL: // unreadable, or not written by a runtime
			*wait = l.ttl
		}
		if v.RuntimeID != *holder {
			*holder = v.RuntimeID
			l.log.LogAttrs(ctx, slog.LevelInfo, "standing by: another runtime serves this scope",
				slog.String("holder_runtime_id", v.RuntimeID), slog.String("holder_deployment", v.DeploymentID),
				slog.String("holder_host", v.Host), slog.Duration("holder_ttl", *wait))
		}
		return false, nil
	case time.Since(*seenAt) >= *wait:
		return l.update(rctx, e.Revision(), "lease taken over from a silent holder",
			slog.String("holder_runtime_id", v.RuntimeID), slog.String("holder_deployment", v.DeploymentID),
			slog.String("holder_host", v.Host), slog.Duration("silent_for", time.Since(*seenAt)))
	}
	return false, nil
}

// update writes this runtime's value over revision rev of the key.
func (l *lease) update(ctx context.Context, rev uint64, msg string, attrs ...slog.Attr) (bool, error) {
	sent := time.Now()
	nrev, err := l.kv.Update(ctx, l.key, l.value, rev)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return false, nil // written in between: read it on the next round
	}
	if err != nil {
		return false, fmt.Errorf("update lease: %w", err)
	}
	l.took(nrev, sent)
	l.log.LogAttrs(ctx, slog.LevelInfo, msg, append(attrs, slog.String("runtime_id", l.id))...)
	return true, nil
}

func (l *lease) took(rev uint64, sent time.Time) {
	l.rev, l.lastGood = rev, sent
}

// hold refreshes the lease every TTL/3 until ctx ends (it then returns
// nil) or the lease is lost: another runtime wrote the key, the key was
// deleted, or no refresh was confirmed for 5/6 of the TTL, after which a
// standby may take over. It then returns why, and the caller must stop
// consuming at once.
func (l *lease) hold(ctx context.Context) error {
	period := l.ttl / 3
	fence := l.ttl - l.ttl/6
	timer := time.NewTimer(period)
	defer timer.Stop()
	var lastErr error
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		left := fence - time.Since(l.lastGood)
		if left <= 0 {
			return fmt.Errorf("lease not confirmed for %v (last error: %w)", time.Since(l.lastGood).Round(time.Millisecond), lastErr)
		}
		rctx, cancel := context.WithTimeout(ctx, min(period, left))
		sent := time.Now()
		rev, err := l.kv.Update(rctx, l.key, l.value, l.rev)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			// Our previous update may have been stored although its reply
			// was lost; then the key holds our value at a later revision.
			err = l.owner(rctx)
			if err == nil {
				cancel()
				timer.Reset(0) // refresh over the revision just read
				continue
			}
		}
		cancel()
		switch {
		case err == nil:
			if lastErr != nil {
				l.log.LogAttrs(ctx, slog.LevelInfo, "lease confirmed again")
			}
			l.rev, l.lastGood, lastErr = rev, sent, nil
			timer.Reset(period)
			continue
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, errLeaseTaken):
			return err
		case l.nc.IsClosed():
			return fmt.Errorf("lease not refreshed: %w", errConnClosed)
		}
		if lastErr == nil {
			l.log.LogAttrs(ctx, slog.LevelWarn, "lease refresh failed; retrying",
				slog.Any("err", err), slog.Duration("stop_consuming_in", max(fence-time.Since(l.lastGood), 0)))
		}
		lastErr = err
		timer.Reset(min(period/4, max(fence-time.Since(l.lastGood), 0)))
	}
}

// errLeaseTaken marks a lease another runtime holds now, or that was
// deleted under its holder.
var errLeaseTaken = errors.New("lease taken")

// owner reads the key after a refresh was refused: if it still holds this
// runtime's value, it adopts its revision and returns nil; if it holds
// another's or is gone, it returns an error wrapping errLeaseTaken.
func (l *lease) owner(ctx context.Context) error {
	e, err := l.kv.Get(ctx, l.key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("%w: the lease key was deleted", errLeaseTaken)
	}
	if err != nil {
		return fmt.Errorf("read lease: %w", err)
	}
	var v leaseValue
	_ = json.Unmarshal(e.Value(), &v)
	if v.RuntimeID == l.id {
		l.rev = e.Revision()
		return nil
	}
	return fmt.Errorf("%w by runtime %q (deployment %q, host %q)", errLeaseTaken, v.RuntimeID, v.DeploymentID, v.Host)
}

// release deletes the key, unless another runtime wrote it since, so that
// a standby takes over at once instead of after the TTL.
func (l *lease) release(ctx context.Context) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), infoTimeout)
	defer cancel()
	err := l.kv.Delete(rctx, l.key, jetstream.LastRevision(l.rev))
	switch {
	case err == nil:
		l.log.LogAttrs(ctx, slog.LevelInfo, "lease released")
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		l.log.LogAttrs(ctx, slog.LevelWarn, "lease not released: another runtime wrote it meanwhile")
	default:
		l.log.LogAttrs(ctx, slog.LevelWarn, "lease not released; a standby takes over once it expires",
			slog.Duration("ttl", l.ttl), slog.Any("err", err))
	}
}
