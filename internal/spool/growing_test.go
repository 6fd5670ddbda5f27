package spool

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

// A reader follows the file as it is written, waits at its end for more,
// and ends where the writing ends: at io.EOF, or with the writing's error.
func TestFollowersSeeTheFileGrow(t *testing.T) {
	for _, fail := range []bool{false, true} {
		f, err := Create(t.TempDir(), "upload-*")
		if err != nil {
			t.Fatal(err)
		}
		r, err := Open(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan []byte, 1)
		gotErr := make(chan error, 1)
		go func() {
			data, err := io.ReadAll(r)
			got <- data
			gotErr <- err
		}()
		want := bytes.Repeat([]byte("0123456789"), 100000)
		for i := 0; i < len(want); i += 65536 {
			if _, err := f.Write(want[i:min(i+65536, len(want))]); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				time.Sleep(20 * time.Millisecond) // the reader waits at the end
			}
		}
		var werr error
		if fail {
			werr = errors.New("client went away")
		}
		_ = f.Done(werr)
		data, rerr := <-got, <-gotErr
		if !bytes.Equal(data, want) {
			t.Fatalf("fail=%v: read %d bytes, want %d", fail, len(data), len(want))
		}
		if fail != (rerr != nil) || (fail && !errors.Is(rerr, werr)) {
			t.Errorf("fail=%v: the reader ended with %v", fail, rerr)
		}
		r.Close()
		// Once written, a path opens as a plain file.
		r2, err := Open(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := r2.(*os.File); !ok {
			t.Errorf("a finished file opens as %T", r2)
		}
		r2.Close()
	}
}
