package natstransport

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrInvalidToken reports an identifier that cannot go into a subject:
	// it is empty or longer than MaxTokenLength bytes. Other characters are
	// never an error; they are escaped.
	ErrInvalidToken = errors.New("natstransport: invalid token")
	// ErrMalformedEnvelope reports an envelope that is not JSON or lacks a
	// required field. A runtime should ack such a message and log it.
	ErrMalformedEnvelope = errors.New("natstransport: malformed envelope")
	// ErrConfigMismatch reports a stream or consumer that exists on the
	// server with a config that cannot be brought in line with ours. The
	// error is a *MismatchError naming the fields.
	ErrConfigMismatch = errors.New("natstransport: config mismatch")
)

// FieldDiff is one field whose value on the server differs from the wanted
// one. Field is the JetStream JSON name, as "nats stream info --json"
// shows it.
type FieldDiff struct {
	Field string
	Have  string
	Want  string
}

func (d FieldDiff) String() string {
	return fmt.Sprintf("%s is %s, want %s", d.Field, d.Have, d.Want)
}

// MismatchError reports a stream or consumer that exists with a config that
// cannot be updated to the wanted one. errors.Is(err, ErrConfigMismatch)
// holds for it.
type MismatchError struct {
	Kind  string // "stream" or "consumer"
	Name  string // stream name, or "STREAM > consumer"
	Fixed []FieldDiff
	// Other lists differing fields that could have been updated; they were
	// left alone because the stream or consumer is unusable anyway.
	Other []FieldDiff
}

func (e *MismatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "natstransport: %s %s exists with a config that cannot be updated: ", e.Kind, e.Name)
	for i, d := range e.Fixed {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(d.String())
	}
	if len(e.Other) > 0 {
		b.WriteString(" (also differs: ")
		for i, d := range e.Other {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(d.String())
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, "; delete the %s or change the settings", e.Kind)
	return b.String()
}

// Fields returns the names of the fields that cannot be updated.
func (e *MismatchError) Fields() []string {
	names := make([]string, len(e.Fixed))
	for i, d := range e.Fixed {
		names[i] = d.Field
	}
	return names
}

// Unwrap makes errors.Is(err, ErrConfigMismatch) true.
func (e *MismatchError) Unwrap() error { return ErrConfigMismatch }
