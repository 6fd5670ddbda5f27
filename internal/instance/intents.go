package instance

import (
	"context"
	"errors"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/store"
)

// An intent is written before a change that moves an instance's files and
// then its records, and deleted in the transaction that commits the
// records. Start-up finds the intents of changes a crash cut short and
// settles each one, so the files always match the records:
//   - rename: the records still have the old name, so the volume goes back;
//   - restore, phase "copy": the records are unchanged, so the prepared
//     copy is dropped;
//   - restore, phase "swap": the records already say restored, so the
//     prepared copy is swapped in;
//   - refresh (by rsync): the new snapshots have no records yet, so the
//     volume goes back to the snapshot taken before (undoRefresh), and
//     start-up's repair removes the snapshots without records.
type intent struct {
	Op       string `json:"op"`
	Instance string `json:"instance"`
	NewName  string `json:"new_name,omitempty"`
	Snapshot string `json:"snapshot,omitempty"`
	Phase    string `json:"phase,omitempty"`
}

const (
	intentRename  = "rename"
	intentRestore = "restore"
	intentRefresh = "refresh"
	phaseCopy     = "copy"
	phaseSwap     = "swap"
)

// putIntent records (or moves on) the change under way for an instance.
func putIntent(tx *store.Tx, in intent) error {
	_, err := tx.Put(store.Intents, in.Instance, in, 0)
	return err
}

// dropIntent forgets an instance's change; none is not an error.
func dropIntent(tx *store.Tx, instance string) error {
	if err := tx.Delete(store.Intents, instance); err != nil && !errors.Is(err, apierr.ErrNotFound) {
		return err
	}
	return nil
}

// settleIntents finishes or undoes what a crash cut short (see intent).
// It runs before any other start-up repair, which would take a renamed
// volume for one without a record.
func (s *Service) settleIntents() {
	intents, err := store.List[intent](s.db, store.Intents)
	if err != nil {
		s.log.Error("repair: read intents", "err", err)
		return
	}
	for _, in := range intents {
		pool, vol, err := s.poolFor(in.Instance)
		if err != nil {
			s.log.Error("repair: an unfinished change's instance has no pool", "instance", in.Instance, "err", err)
			continue
		}
		switch {
		case in.Op == intentRename:
			err = pool.UndoRename(vol, in.NewName)
			s.log.Warn("repair: undid a rename that did not finish", "instance", in.Instance, "new_name", in.NewName, "err", err)
		case in.Op == intentRestore && in.Phase == phaseSwap:
			err = pool.FinishRestore(vol)
			s.log.Warn("repair: finished a snapshot restore", "instance", in.Instance, "snapshot", in.Snapshot, "err", err)
		case in.Op == intentRefresh:
			err = s.undoRefresh(context.Background(), pool, vol)
			s.log.Warn("repair: put back a copy whose refresh did not finish", "instance", in.Instance, "err", err)
		case in.Op == intentRestore:
			err = pool.CancelRestore(vol)
			s.log.Warn("repair: dropped a snapshot restore that did not finish", "instance", in.Instance, "snapshot", in.Snapshot, "err", err)
		}
		if err != nil {
			continue // kept: the next start-up tries again
		}
		_ = s.db.Update(func(tx *store.Tx) error { return dropIntent(tx, in.Instance) })
	}
}
