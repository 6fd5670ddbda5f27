package dir_test

import (
	"os"
	"testing"

	"github.com/lodge-project/lodge/internal/storage"
	"github.com/lodge-project/lodge/internal/storage/dir"
	"github.com/lodge-project/lodge/internal/storage/storagetest"
)

func TestConformance(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the storage conformance suite changes file ownership: run as root")
	}
	newDriver := func(t *testing.T) storage.Driver {
		d, err := dir.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	storagetest.Run(t, newDriver)
	storagetest.RunSnapshots(t, newDriver)
}
