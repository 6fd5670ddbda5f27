package storage

import (
	"errors"
	"fmt"
	"os"
)

// RenamePaths renames each pair's first path to its second, in order, for
// a volume driver whose volume is a few paths (the volume, its snapshots'
// folder). The first must exist; a later one that does not is skipped. A
// failure moves back what was moved.
func RenamePaths(pairs [][2]string) error {
	for i, p := range pairs {
		if i > 0 {
			if _, err := os.Lstat(p[0]); errors.Is(err, os.ErrNotExist) {
				continue
			}
		}
		if err := os.Rename(p[0], p[1]); err != nil {
			_ = UndoRenamePaths(pairs[:i])
			return fmt.Errorf("rename %s: %w", p[0], err)
		}
	}
	return nil
}

// UndoRenamePaths moves back what an interrupted RenamePaths moved: each
// path that is at its new name and not at its old.
func UndoRenamePaths(pairs [][2]string) error {
	for _, p := range pairs {
		_, errOld := os.Lstat(p[0])
		_, errNew := os.Lstat(p[1])
		if errOld != nil && errNew == nil {
			if err := os.Rename(p[1], p[0]); err != nil {
				return fmt.Errorf("move %s back to %s: %w", p[1], p[0], err)
			}
		}
	}
	return nil
}
