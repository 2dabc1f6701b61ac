// Package faulty wraps a mirror so that tests can make it misbehave on
// purpose: fail chosen calls, return corrupted bytes, or claim to store
// what it drops (a lying mirror). It also counts the calls of each kind.
//
// It owns only its rules and counters, and decides deterministically: the
// same calls in the same order meet the same faults. It is for tests; it
// must never wrap a mirror that holds data someone needs.
package faulty

import (
	"strings"
	"sync"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

// Method names a method of blob.Store.
type Method int

// The methods of blob.Store.
const (
	Put Method = iota
	Get
	Stat
	List
	Delete
	numMethods
)

var methodNames = [numMethods]string{"Put", "Get", "Stat", "List", "Delete"}

func (m Method) String() string {
	if m >= 0 && m < numMethods {
		return methodNames[m]
	}
	return "unknown method"
}

// Effect is what a rule does to a call it matches.
type Effect int

// The effects.
const (
	Fail    Effect = iota // return Rule.Err without calling the inner store
	Corrupt               // Get: flip one bit of the bytes the inner store returns
	Drop                  // Put: return nil without calling the inner store
)

// Rule chooses calls and what happens to them.
type Rule struct {
	Method Method
	// Prefix, if set, limits the rule to calls whose name (for List, the
	// prefix listed) starts with it.
	Prefix string
	// Nth, if positive, limits the rule to the Nth call it matches,
	// counting from 1 when the rule is added; 0 means every call.
	Nth int
	// Effect is what happens to a chosen call.
	Effect Effect
	// Err is the error a Fail returns; nil means an errors.Unavailable.
	Err error
}

// Store is a blob.Store that applies rules to the calls it passes to an
// inner store. It is safe for concurrent use.
type Store struct {
	inner blob.Store

	mu    sync.Mutex
	rules []*rule
	calls [numMethods]int
}

type rule struct {
	Rule
	seen int // calls matched so far
}

var _ blob.Store = (*Store)(nil)

// New returns a Store that passes every call to inner until rules are
// added.
func New(inner blob.Store) *Store {
	return &Store{inner: inner}
}

// Add adds a rule. When several rules choose a call, the first added wins.
// It panics on a rule that cannot apply: Corrupt is for Get, Drop for Put.
func (s *Store) Add(r Rule) {
	if r.Effect == Corrupt && r.Method != Get || r.Effect == Drop && r.Method != Put {
		panic("faulty: " + r.Method.String() + " cannot have that effect")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = append(s.rules, &rule{Rule: r})
}

// Reset removes all rules; the counts of calls are kept.
func (s *Store) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = nil
}

// Calls returns how many times method m has been called, faulty or not.
func (s *Store) Calls(m Method) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[m]
}

// FailNth makes the nth call of m from now on fail with err.
func (s *Store) FailNth(m Method, n int, err error) {
	s.Add(Rule{Method: m, Nth: n, Effect: Fail, Err: err})
}

// FailPrefix makes every call of m on a name starting with prefix fail
// with err.
func (s *Store) FailPrefix(m Method, prefix string, err error) {
	s.Add(Rule{Method: m, Prefix: prefix, Effect: Fail, Err: err})
}

// CorruptGets makes every Get of a name starting with prefix return
// corrupted bytes.
func (s *Store) CorruptGets(prefix string) {
	s.Add(Rule{Method: Get, Prefix: prefix, Effect: Corrupt})
}

// DropPuts makes every Put of a name starting with prefix succeed without
// storing anything.
func (s *Store) DropPuts(prefix string) {
	s.Add(Rule{Method: Put, Prefix: prefix, Effect: Drop})
}

// choose counts a call of m on name and returns the rule that applies to
// it, if one does. Every rule that matches counts the call, chosen or not.
func (s *Store) choose(m Method, name string) (chosen Rule, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[m]++
	for _, r := range s.rules {
		if r.Method != m || !strings.HasPrefix(name, r.Prefix) {
			continue
		}
		r.seen++
		if !ok && (r.Nth <= 0 || r.seen == r.Nth) {
			chosen, ok = r.Rule, true
		}
	}
	return chosen, ok
}

// fail returns the error for a call on name that r chose to fail.
func fail(r Rule, name string) error {
	if r.Err != nil {
		return r.Err
	}
	op := errors.Op("faulty." + r.Method.String())
	return errors.E(op, errors.Unavailable, name, errors.Str("injected fault"))
}
