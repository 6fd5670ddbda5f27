// Package keyedlock serialises work per key (an instance name) without one
// lock for everything.
package keyedlock

import "sync"

// Locks hands out one mutex per key; the zero value is ready to use.
type Locks struct {
	mu sync.Mutex
	m  map[string]*sync.Mutex
}

// Lock locks key and returns its unlock.
func (l *Locks) Lock(key string) func() {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*sync.Mutex{}
	}
	m, ok := l.m[key]
	if !ok {
		m = &sync.Mutex{}
		l.m[key] = m
	}
	l.mu.Unlock()
	m.Lock()
	return m.Unlock
}
