package event

import "testing"

func TestBusFiltersAndCutsOffSlowSubscribers(t *testing.T) {
	b := NewBus()
	all, life := b.Subscribe(nil), b.Subscribe([]string{"lifecycle"})
	b.Send("operation", nil)
	b.Lifecycle("instance-started", "/1.0/instances/c1", nil)
	if len(all.C) != 2 || len(life.C) != 1 {
		t.Fatalf("delivered %d and %d events", len(all.C), len(life.C))
	}
	for i := 0; i < cap(all.C); i++ {
		b.Send("operation", nil)
	}
	// all's buffer overflowed: it is cut off, its channel closed after the backlog.
	n := 0
	for range all.C {
		n++
	}
	if n != cap(all.C) {
		t.Fatalf("read %d buffered events before the close", n)
	}
	all.Close() // closing again is harmless
	life.Close()
}
