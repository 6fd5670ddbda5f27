package instance

import (
	"encoding/json"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/idmap"
	"github.com/lodge-project/lodge/internal/instance/keys"
	"github.com/lodge-project/lodge/internal/store"
)

// idmapFor is the map an instance should run with: none when privileged,
// a range of its own with security.idmap.isolated (kept once given), the
// shared range otherwise.
func (s *Service) idmapFor(name string, config map[string]string, current *idmap.Map) (*idmap.Map, error) {
	if keys.IsTrue(config, "security.privileged") {
		return nil, nil
	}
	raw, err := idmap.ParseRaw(config["raw.idmap"])
	if err != nil {
		return nil, apierr.BadRequest("raw.idmap: %v", err)
	}
	shared := s.idmap
	shared.Raw = raw
	if !keys.IsTrue(config, "security.idmap.isolated") {
		return &shared, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	taken := map[uint32]bool{}
	_ = s.db.View(func(tx *store.Tx) error {
		return tx.Each(store.Instances, func(key string, _ uint64, data json.RawMessage) error {
			var r Record
			if key != name && json.Unmarshal(data, &r) == nil && r.IDMap != nil {
				taken[r.IDMap.HostUID] = true
			}
			return nil
		})
	})
	// An instance keeps its own range, unless another holds it too (a
	// copy starts on its source's).
	if current != nil && current.HostUID != shared.HostUID && !taken[current.HostUID] {
		m := *current
		m.Raw = raw
		return &m, nil
	}
	for n := uint32(1); ; n++ {
		m, ok := shared.Isolated(n)
		m.Raw = raw
		if !ok {
			return nil, apierr.BadRequest("no free isolated id range is left for %q: root's range in /etc/subuid holds %d ids", name, shared.Total)
		}
		if !taken[m.HostUID] && !s.pendingMaps[m.HostUID] {
			s.pendingMaps[m.HostUID] = true // until the record holds it (releasePending)
			return &m, nil
		}
	}
}

// releasePending forgets a range handed out by idmapFor: once the record
// holds it (or the change that wanted it failed), the records decide.
func (s *Service) releasePending(m *idmap.Map) {
	if m == nil {
		return
	}
	s.mu.Lock()
	delete(s.pendingMaps, m.HostUID)
	s.mu.Unlock()
}
