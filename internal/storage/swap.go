package storage

import (
	"os"
	"path/filepath"

	"github.com/lodge-project/lodge/internal/durable"
)

// A snapshot restore, in drivers whose volume is one path, swaps a
// prepared copy (<vol>.restore) in for the volume: the volume moves to
// <vol>.old, the copy to <vol>, and <vol>.old goes. SwapIn does it, and
// completes a swap a crash cut short from any point; RepairSwap, for a
// swap that nothing committed, puts the volume as it was back.

// SwapIn swaps <vol>.restore in for vol; remove deletes a volume (a
// missing one is not an error).
func SwapIn(vol string, remove func(string) error) error {
	fresh, old := vol+".restore", vol+".old"
	if exists(fresh) {
		if exists(vol) {
			if err := remove(old); err != nil {
				return err
			}
			if err := os.Rename(vol, old); err != nil {
				return err
			}
		}
		if err := os.Rename(fresh, vol); err != nil {
			return err
		}
		if err := durable.Dir(filepath.Dir(vol)); err != nil {
			return err
		}
	}
	return remove(old)
}

// RepairSwap undoes a swap a crash cut short with no intent to finish it,
// and returns what it did ("" when nothing was needed).
func RepairSwap(vol string, remove func(string) error) (string, error) {
	fresh, old := vol+".restore", vol+".old"
	switch {
	case !exists(vol) && exists(old):
		if err := os.Rename(old, vol); err != nil {
			return "", err
		}
		_ = remove(fresh)
		return "undid an interrupted snapshot restore", nil
	case !exists(vol) && exists(fresh):
		if err := os.Rename(fresh, vol); err != nil {
			return "", err
		}
		return "kept the only copy of a volume, left by a snapshot restore", nil
	}
	return "", nil
}
