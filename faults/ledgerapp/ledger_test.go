package main

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestBookJournal(t *testing.T) {
	dir := t.TempDir()
	b, err := NewBooks(dir).Open("acct-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []Entry{{"a", 5}, {"b", 7}, {"a", 5}} {
		if err := b.Apply(e.Op, e.Amount); err != nil {
			t.Fatal(err)
		}
	}
	want := State{Total: 17, Applied: 3, Ops: 2, Twice: map[string]int{"a": 2}}
	if got := b.State(); !reflect.DeepEqual(got, want) {
		t.Fatalf("state %+v, want %+v", got, want)
	}

	// A write cut short leaves a partial line: another process (a runtime
	// started after a crash) drops it and appends after the whole lines.
	f, err := os.OpenFile(JournalPath(dir, "acct-1"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("c\t1"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	b2, err := NewBooks(dir).Open("acct-1")
	if err != nil {
		t.Fatal(err)
	}
	if got := b2.State(); !reflect.DeepEqual(got, want) {
		t.Fatalf("reloaded state %+v, want %+v", got, want)
	}
	if err := b2.Apply("d", 1); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(JournalPath(dir, "acct-1"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(data), "a\t5\nb\t7\na\t5\nd\t1\n"; got != want {
		t.Fatalf("journal %q, want %q", got, want)
	}
}

func TestReadJournalMalformed(t *testing.T) {
	if _, _, err := ReadJournal(strings.NewReader("a\t5\nb 7\n")); err == nil {
		t.Fatal("a line without a tab was accepted")
	}
}

func TestNames(t *testing.T) {
	for _, s := range []string{"", ".x", "a/b", "a\tb", strings.Repeat("x", 129)} {
		if checkName("op", s) == nil {
			t.Errorf("%q accepted", s)
		}
	}
	if _, err := NewBooks(t.TempDir()).Open("../x"); err == nil {
		t.Error("ledger id ../x accepted")
	}
}
