// Package revert undoes the steps of a multi-step change that failed
// partway: each step that succeeds adds how to take it back, and a failure
// takes back every step done, last first, reporting the undos that failed
// too rather than dropping them.
package revert

import (
	"errors"
	"fmt"
)

// Reverter collects the undo of each step done. Its zero value is ready.
type Reverter struct {
	steps []step
	done  bool
}

type step struct {
	what string
	undo func() error
}

// Add records how to take back a step that succeeded; what names it in an
// undo failure.
func (r *Reverter) Add(what string, undo func() error) {
	r.steps = append(r.steps, step{what, undo})
}

// Success keeps every step: a later Fail undoes nothing.
func (r *Reverter) Success() { r.done = true }

// Fail takes back the steps done, last first, and returns err joined with
// the undos that failed (each naming its step). After Success it returns
// err alone. Meant as `defer func() { err = r.Fail(err) }()` or called on
// the error path.
func (r *Reverter) Fail(err error) error {
	if r.done || err == nil {
		return err
	}
	r.done = true
	errs := []error{err}
	for i := len(r.steps) - 1; i >= 0; i-- {
		if uerr := r.steps[i].undo(); uerr != nil {
			errs = append(errs, fmt.Errorf("undo %s: %w", r.steps[i].what, uerr))
		}
	}
	return errors.Join(errs...)
}
