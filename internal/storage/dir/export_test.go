package dir

// NewFlat opens a dir pool whose new volumes are always flat copies, as on
// kernels without overlayfs fd layers, so tests cover that fallback too.
func NewFlat(root string) (*Driver, error) {
	d, err := New(root)
	if err == nil {
		d.probeOnce.Do(func() {})
	}
	return d, err
}

// Image volumes are written back at once in tests, which wait for it.
func init() { writebackDelay = 0 }

// WaitRemovals waits for the old trees of rebuilt volumes to be removed.
func (d *Driver) WaitRemovals() { d.removals.Wait() }
