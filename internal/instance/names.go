package instance

import (
	"crypto/rand"
	"math/big"

	"github.com/lodge-project/lodge/internal/apierr"
	"github.com/lodge-project/lodge/internal/project"
	"github.com/lodge-project/lodge/internal/store"
)

// reserveName holds an instance's store key for an instance being created until release is
// called: the record is written only at the end of the create, so the
// store alone cannot tell a second create of the same name that it lost.
func (s *Service) reserveName(name string) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reserved[name] || s.exists(name) {
		return nil, apierr.Conflict("instance %q already exists", name)
	}
	s.reserved[name] = true
	return func() {
		s.mu.Lock()
		delete(s.reserved, name)
		s.mu.Unlock()
	}, nil
}

func (s *Service) isReserved(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reserved[name]
}

func (s *Service) exists(name string) bool { return s.db.Has(store.Instances, name) }

// Names for instances created without one: an adjective and an animal,
// as LXD makes them up. The lists are Lodge's own.
var (
	nameAdjectives = []string{"amber", "brave", "calm", "clever", "daring", "eager", "gentle", "happy", "honest", "jolly",
		"keen", "lively", "lucid", "merry", "nimble", "noble", "patient", "proud", "quick", "quiet",
		"rapid", "ready", "sharp", "shiny", "steady", "sunny", "swift", "tidy", "vivid", "witty"}
	nameAnimals = []string{"badger", "beaver", "bison", "condor", "coyote", "crane", "falcon", "ferret", "gecko", "heron",
		"ibex", "jackal", "koala", "lemur", "lynx", "marmot", "marten", "moose", "ocelot", "otter",
		"panda", "puffin", "quail", "raven", "salmon", "tapir", "toucan", "walrus", "weasel", "yak"}
)

// freeName makes up a name no instance of project proj has and none being
// created holds.
func (s *Service) freeName(proj string) (string, error) {
	pick := func(words []string) string {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(words))))
		return words[n.Int64()]
	}
	for range 100 {
		name := pick(nameAdjectives) + "-" + pick(nameAnimals)
		if key := project.StoreKey(proj, name); !s.isReserved(key) && !s.exists(key) {
			return name, nil
		}
	}
	return "", apierr.Conflict("could not make up a free instance name: give one")
}
