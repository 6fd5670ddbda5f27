package revert

import (
	"errors"
	"strings"
	"testing"
)

func TestFailUndoesLastFirstAndReportsUndoFailures(t *testing.T) {
	var r Reverter
	var order []string
	r.Add("one", func() error { order = append(order, "one"); return nil })
	r.Add("two", func() error { order = append(order, "two"); return errors.New("stuck") })
	r.Add("three", func() error { order = append(order, "three"); return nil })
	cause := errors.New("step four failed")
	err := r.Fail(cause)
	if strings.Join(order, ",") != "three,two,one" {
		t.Fatalf("undo order %v", order)
	}
	if !errors.Is(err, cause) || !strings.Contains(err.Error(), "undo two: stuck") {
		t.Fatalf("error %q: want the cause and the failed undo", err)
	}
	// Once undone, nothing runs again.
	order = nil
	if err := r.Fail(cause); err != cause || order != nil {
		t.Fatalf("a second Fail: %v, undos %v", err, order)
	}
}

func TestSuccessKeepsTheSteps(t *testing.T) {
	var r Reverter
	ran := false
	r.Add("step", func() error { ran = true; return nil })
	r.Success()
	if err := r.Fail(errors.New("late")); err == nil || ran {
		t.Fatalf("after Success: %v, undo ran %v", err, ran)
	}
	var empty Reverter
	if err := empty.Fail(nil); err != nil {
		t.Fatalf("Fail(nil): %v", err)
	}
}
