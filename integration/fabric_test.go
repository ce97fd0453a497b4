package integration

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/natstransport"
)

// checkFabric reads the streams and INBOUND's consumers back from JetStream
// and compares them with the seed's tables: exactly one durable consumer
// per actor type, named rt-{ws}-{proj}-{type}, and nothing else on INBOUND.
func (d *deployment) checkFabric(app *zocket.App) {
	t := d.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()

	replicas := max(d.streams.Replicas, 1)
	storage := jetstream.MemoryStorage
	if d.streams.Storage == natstransport.StorageFile {
		storage = jetstream.FileStorage
	}
	for _, want := range []struct {
		name      string
		subject   string
		retention jetstream.RetentionPolicy
		maxAge    time.Duration
	}{
		{"INBOUND", "inbound.>", jetstream.WorkQueuePolicy, 60 * time.Second},
		{"OUTBOUND", "outbound.>", jetstream.LimitsPolicy, 30 * time.Second},
	} {
		s, err := d.js.Stream(ctx, want.name)
		if err != nil {
			t.Errorf("stream %s: %v", want.name, err)
			continue
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Errorf("stream %s info: %v", want.name, err)
			continue
		}
		c := info.Config
		if !slices.Equal(c.Subjects, []string{want.subject}) || c.Retention != want.retention ||
			c.Storage != storage || c.MaxAge != want.maxAge || c.Replicas != replicas {
			t.Errorf("stream %s: subjects %v, retention %v, storage %v, max age %v, replicas %d; want [%s], %v, %v, %v, %d",
				want.name, c.Subjects, c.Retention, c.Storage, c.MaxAge, c.Replicas,
				want.subject, want.retention, storage, want.maxAge, replicas)
		}
	}

	var want []string
	for _, a := range app.Actors() {
		want = append(want, fmt.Sprintf("rt-%s-%s-%s", testScope.WorkspaceID, testScope.ProjectID, a.Name))
	}
	slices.Sort(want)
	// After a nats-server restart with memory streams, the runtime puts
	// its consumers back within its check interval (2 s), not at once.
	eventually(t, ctx, "INBOUND to hold exactly the runtime's consumers", func() (bool, string) {
		names, err := d.consumerNames(ctx, "INBOUND")
		if err != nil {
			return false, fmt.Sprintf("list INBOUND consumers: %v", err)
		}
		slices.Sort(names)
		return slices.Equal(names, want), fmt.Sprintf("INBOUND consumers = %v, want exactly %v", names, want)
	})
	for _, a := range app.Actors() {
		name := fmt.Sprintf("rt-%s-%s-%s", testScope.WorkspaceID, testScope.ProjectID, a.Name)
		cons, err := d.js.Consumer(ctx, "INBOUND", name)
		if err != nil {
			t.Errorf("consumer %s: %v", name, err)
			continue
		}
		c := cons.CachedInfo().Config
		filters := c.FilterSubjects
		if c.FilterSubject != "" {
			filters = append(filters, c.FilterSubject)
		}
		wantFilter := fmt.Sprintf("inbound.%s.%s.%s.>", testScope.WorkspaceID, testScope.ProjectID, a.Name)
		rc := d.runtime.cfg
		wantPending := cmp.Or(rc.ActorMaxAckPending[a.Name], rc.MaxAckPending, 256)
		if c.Durable != name || !slices.Equal(filters, []string{wantFilter}) ||
			c.AckPolicy != jetstream.AckExplicitPolicy || c.MaxAckPending != wantPending {
			t.Errorf("consumer %s: durable %q, filters %v, ack %v, max ack pending %d; want %q, [%s], explicit, %d",
				name, c.Durable, filters, c.AckPolicy, c.MaxAckPending, name, wantFilter, wantPending)
		}
	}
	// Session lifecycle is core NATS: no stream may hold session.* subjects.
	l := d.js.ListStreams(ctx)
	for s := range l.Info() {
		for _, subj := range s.Config.Subjects {
			if strings.HasPrefix(subj, "session.") {
				t.Errorf("stream %s captures %s", s.Config.Name, subj)
			}
		}
	}
	if err := l.Err(); err != nil {
		t.Errorf("list streams: %v", err)
	}
}
