package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/zocket-go/zocket"
)

// State is a ledger as clients see it. It stays small however many
// operations the ledger applied: the full record of operation ids is the
// journal (and the book in memory), and the state names only the
// operations applied more than once.
type State struct {
	// Total is the sum of the amounts of every application, repeats
	// included.
	Total int64 `json:"total"`
	// Applied counts applications, repeats included.
	Applied int64 `json:"applied"`
	// Ops counts distinct operation ids.
	Ops int `json:"ops"`
	// Twice maps each operation applied more than once to how many times it
	// was applied.
	Twice map[string]int `json:"twice,omitempty"`
}

// ApplyInput is the input of apply.
type ApplyInput struct {
	Op     string `json:"op"`
	Amount int64  `json:"amount"`
}

// Validate checks that Op fits on one journal line.
func (in ApplyInput) Validate() error { return checkName("op", in.Op) }

// Actor returns the ledger actor type, keeping its books in books:
//
//   - apply {"op","amount"} adds amount, records one more application of
//     op, and returns the new total. It does not deduplicate: applying an
//     op again counts twice, which is what the fault suite measures.
//   - get returns the State.
func Actor(books *Books) *zocket.Actor[State] {
	a := zocket.NewActor("ledger", func() State { return State{} })
	a.OnActivate(func(s *State, c *zocket.Call) error {
		b, err := books.Open(c.ActorID())
		if err != nil {
			return err // logged; apply and get try again
		}
		*s = b.State()
		return nil
	})
	zocket.Method(a, "apply", func(s *State, c *zocket.Call, in ApplyInput) (int64, error) {
		b, err := books.Open(c.ActorID())
		if err != nil {
			return 0, err
		}
		if err := b.Apply(in.Op, in.Amount); err != nil {
			return 0, err
		}
		*s = b.State()
		return s.Total, nil
	})
	zocket.Method(a, "get", func(s *State, c *zocket.Call, _ struct{}) (State, error) {
		b, err := books.Open(c.ActorID())
		if err != nil {
			return State{}, err
		}
		*s = b.State()
		return *s, nil
	})
	return a
}

// Books holds the ledgers of one process, each loaded from its journal the
// first time it is opened. It is safe for concurrent use.
type Books struct {
	dir   string // empty: no journals
	mu    sync.Mutex
	books map[string]*Book
}

// NewBooks returns books journaled in dir; an empty dir keeps them in
// memory only.
func NewBooks(dir string) *Books {
	return &Books{dir: dir, books: make(map[string]*Book)}
}

// JournalPath returns the journal file of ledger id in dir.
func JournalPath(dir, id string) string { return filepath.Join(dir, id+".journal") }

// Open returns the book of ledger id, loading its journal on first use.
func (bs *Books) Open(id string) (*Book, error) {
	if err := checkName("ledger id", id); err != nil {
		return nil, zocket.Errorf("%v", err)
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if b, ok := bs.books[id]; ok {
		return b, nil
	}
	b := &Book{ops: make(map[string]int), twice: make(map[string]int)}
	if bs.dir != "" {
		f, err := os.OpenFile(JournalPath(bs.dir, id), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("ledger %s: %w", id, err)
		}
		if err := b.load(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("ledger %s: %w", id, err)
		}
		b.f = f
	}
	bs.books[id] = b
	return b, nil
}

// Book is one ledger: its totals, every operation id it applied with how
// many times, and its journal. The engine runs one call at a time per
// ledger, so a Book needs no lock of its own.
type Book struct {
	f       *os.File // nil: memory only
	total   int64
	applied int64
	ops     map[string]int
	twice   map[string]int
}

// Apply appends one application of op to the journal, then counts it. A
// journal line is written with one write(2) on a file opened with
// O_APPEND, so a process killed at any moment leaves whole lines, and
// processes sharing the directory do not interleave them.
func (b *Book) Apply(op string, amount int64) error {
	if b.f != nil {
		line := op + "\t" + strconv.FormatInt(amount, 10) + "\n"
		if _, err := b.f.WriteString(line); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
	}
	b.count(op, amount)
	return nil
}

func (b *Book) count(op string, amount int64) {
	b.total += amount
	b.applied++
	b.ops[op]++
	if n := b.ops[op]; n > 1 {
		b.twice[op] = n
	}
}

// State returns the book as the actor's state.
func (b *Book) State() State {
	s := State{Total: b.total, Applied: b.applied, Ops: len(b.ops)}
	if len(b.twice) > 0 {
		s.Twice = maps.Clone(b.twice)
	}
	return s
}

// load reads a journal. A last line without its newline (a write cut short
// by a full disk) is cut off, so that the next append starts a line.
func (b *Book) load(f *os.File) error {
	entries, complete, err := ReadJournal(f)
	if err != nil {
		return err
	}
	for _, e := range entries {
		b.count(e.Op, e.Amount)
	}
	if err := f.Truncate(complete); err != nil {
		return fmt.Errorf("truncate journal: %w", err)
	}
	return nil
}

// Entry is one line of a journal: one application of an operation.
type Entry struct {
	Op     string
	Amount int64
}

// ReadJournal parses a journal from r. complete is the length of its
// whole lines; a trailing partial line is not returned.
func ReadJournal(r io.Reader) (entries []Entry, complete int64, err error) {
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return entries, complete, nil // a partial line, if any, is dropped
		}
		if err != nil {
			return nil, 0, fmt.Errorf("read journal: %w", err)
		}
		op, amount, ok := bytes.Cut(bytes.TrimSuffix(line, []byte("\n")), []byte("\t"))
		v, perr := strconv.ParseInt(string(amount), 10, 64)
		if !ok || perr != nil || checkName("op", string(op)) != nil {
			return nil, 0, fmt.Errorf("journal line %d: malformed %q", n, line)
		}
		entries = append(entries, Entry{Op: string(op), Amount: v})
		complete += int64(len(line))
	}
}

// checkName accepts 1 to 128 ASCII letters, digits and "-_.:", not
// starting with a dot: safe as a file name and on a journal line.
func checkName(what, s string) error {
	if len(s) == 0 || len(s) > 128 || s[0] == '.' {
		return fmt.Errorf("%s %q: want 1 to 128 of [A-Za-z0-9-_.:], not starting with a dot", what, s)
	}
	for i := range len(s) {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == ':':
		default:
			return fmt.Errorf("%s %q: want 1 to 128 of [A-Za-z0-9-_.:], not starting with a dot", what, s)
		}
	}
	return nil
}
