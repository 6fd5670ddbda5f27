package operation

import (
	"context"
	"errors"
	"time"

	"github.com/lodge-project/lodge/api"
)

// ClassToken is an operation that stands for a single-use secret (a trust
// token): it runs until the secret is used, it expires, or it is
// cancelled (lxc config trust revoke-token deletes it).
const ClassToken = "token"

// errTokenExpired ends a token nobody used in time.
var errTokenExpired = errors.New("the token expired")

// StartToken makes a token operation with resources and metadata, ending
// at expires (never, when zero).
func (m *Manager) StartToken(desc string, resources map[string][]string, metadata map[string]any, expires time.Time) *Op {
	op := m.add(ClassToken, desc, resources, metadata)
	ctx, cancel := context.WithCancel(m.ctx)
	used := make(chan struct{})
	op.mu.Lock()
	op.cancel, op.used = cancel, used
	op.mu.Unlock()
	go func() {
		defer cancel()
		var expiry <-chan time.Time
		if !expires.IsZero() {
			t := time.NewTimer(time.Until(expires))
			defer t.Stop()
			expiry = t.C
		}
		var end error
		select {
		case <-used:
		case <-expiry:
			end = errTokenExpired
		case <-ctx.Done():
			end = context.Canceled
		}
		// A token spent as it expired or was cancelled counts as used:
		// UseToken said so to its caller.
		op.mu.Lock()
		if op.spent {
			end = nil
		}
		op.mu.Unlock()
		op.finish(end)
	}()
	return op
}

// UseToken ends a running token operation as used; false when it was
// used, expired or cancelled already. It is the one way a token is
// spent, so two clients with one token cannot both succeed.
func (op *Op) UseToken() bool {
	op.mu.Lock()
	defer op.mu.Unlock()
	if op.class != ClassToken || op.used == nil || op.spent || op.status != api.Running {
		return false
	}
	op.spent = true
	close(op.used)
	return true
}

// Running says whether the operation has not ended yet.
func (op *Op) Running() bool {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.status == api.Running
}

// Resources are the API paths the operation is about.
func (op *Op) Resources() map[string][]string {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.resources
}

// Metadata is a copy of the operation's metadata.
func (op *Op) Metadata() map[string]any {
	op.mu.Lock()
	defer op.mu.Unlock()
	md := make(map[string]any, len(op.metadata))
	for k, v := range op.metadata {
		md[k] = v
	}
	return md
}
