package keyedlock

import (
	"sync"
	"testing"
)

func TestLocksSerialisePerKey(t *testing.T) {
	var l Locks
	var wg sync.WaitGroup
	counts := map[string]*int{"a": new(int), "b": new(int)}
	for i := 0; i < 100; i++ {
		for _, k := range []string{"a", "b"} {
			wg.Add(1)
			go func(k string) {
				defer wg.Done()
				defer l.Lock(k)()
				*counts[k]++ // the race detector flags two holders of one key
			}(k)
		}
	}
	wg.Wait()
	if *counts["a"] != 100 || *counts["b"] != 100 {
		t.Fatalf("counts %d %d", *counts["a"], *counts["b"])
	}
	unlockA := l.Lock("a")
	done := make(chan struct{})
	go func() { defer close(done); defer l.Lock("b")() }()
	<-done // another key is not held up
	unlockA()
}
