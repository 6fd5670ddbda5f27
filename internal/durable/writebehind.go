package durable

import (
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// writeBehindEvery is how often a written file's dirty pages are handed
// to the disk.
const writeBehindEvery = 50 * time.Millisecond

// WriteBehind starts the writeback of what is written to f, whoever
// writes it (a command may write to its descriptor directly), every
// writeBehindEvery until stop: the fsync that ends a large file then
// waits for its tail, not for all of it. Call stop before f is closed.
func WriteBehind(f *os.File) (stop func()) {
	fd := int(f.Fd())
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(writeBehindEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				// Asynchronous: pages already under writeback are not waited for.
				_ = unix.SyncFileRange(fd, 0, 0, unix.SYNC_FILE_RANGE_WRITE)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}
