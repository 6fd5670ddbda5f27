package operation

import (
	"context"
	"testing"
	"time"

	"github.com/lodge-project/lodge/api"
	"github.com/lodge-project/lodge/internal/event"
)

// A token is spent once; one nobody uses expires; a cancelled one cannot
// be spent.
func TestTokens(t *testing.T) {
	m := NewManager(context.Background(), event.NewBus())
	wait := func(op *Op) api.Operation {
		select {
		case <-op.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the token operation did not end")
		}
		return op.Render()
	}
	used := m.StartToken("t", nil, map[string]any{"secret": "a"}, time.Time{})
	if !used.UseToken() || used.UseToken() {
		t.Fatal("a token was not spent exactly once")
	}
	if r := wait(used); r.StatusCode != api.Success {
		t.Fatalf("a spent token: %+v", r)
	}
	expired := m.StartToken("t", nil, nil, time.Now().Add(50*time.Millisecond))
	if r := wait(expired); r.StatusCode != api.Failure || expired.UseToken() {
		t.Fatalf("an expired token: %+v", r)
	}
	cancelled := m.StartToken("t", nil, nil, time.Time{})
	if err := cancelled.Cancel(); err != nil {
		t.Fatal(err)
	}
	if cancelled.UseToken() {
		t.Fatal("a cancelled token was spent")
	}
	if r := wait(cancelled); r.StatusCode != api.Cancelled {
		t.Fatalf("a cancelled token: %+v", r)
	}
}
