package storage

// Rebuilder is a driver whose volume can be made anew beside its own
// tree, the new tree sharing the old one's unchanged files (hard links),
// where its snapshots would be whole copies (dir). A refresh then keeps
// the volume as it was for its undo at the cost of a few renames, where
// an undo snapshot would copy the volume.
//
// A rebuild moves the volume's tree into a workspace of its own, as
// old/, beside an empty new/ that counts against the volume's quota as
// the volume did (BeginRebuild); the caller fills new/ (rsync's
// --link-dest on old/), and FinishRebuild puts it in the volume's place.
// Until the caller commits, UndoRebuild puts old/ back; once it has,
// EndRebuild removes the workspace. Each step may be cut short by a
// crash, and UndoRebuild and EndRebuild may run again after one.
type Rebuilder interface {
	// BeginRebuild returns the workspace, holding old/ (the volume's
	// tree) and new/ (empty).
	BeginRebuild(v Volume) (string, error)
	FinishRebuild(v Volume) error
	// UndoRebuild says whether there was a rebuild to undo.
	UndoRebuild(v Volume) (bool, error)
	EndRebuild(v Volume) error
}
