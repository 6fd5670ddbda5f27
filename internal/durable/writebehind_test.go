package durable

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWriteBehindKeepsWhatIsWritten writes a file while its writeback
// runs beside, and reads back exactly what was written; stop ends the
// writeback once however often it is called.
func TestWriteBehindKeepsWhatIsWritten(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	stop := WriteBehind(f)
	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	for i := 0; i < 4; i++ {
		if _, err := f.Write(want[i*len(want)/4 : (i+1)*len(want)/4]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * writeBehindEvery)
	}
	stop()
	stop()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes (%v), wrote %d", len(got), err, len(want))
	}
}
