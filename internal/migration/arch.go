package migration

// architectures are LXD's architecture ids (shared/osarch), which the
// protocol's snapshots carry.
var architectures = map[int32]string{
	1: "i686", 2: "x86_64", 3: "armv7l", 4: "aarch64", 5: "ppc", 6: "ppc64", 7: "ppc64le",
	8: "s390x", 9: "mips", 10: "mips64", 11: "riscv32", 12: "riscv64", 13: "armv6l", 14: "armv8l",
}

// ArchitectureID is the id of an architecture name (0: unknown).
func ArchitectureID(name string) int32 {
	for id, n := range architectures {
		if n == name {
			return id
		}
	}
	return 0
}

// ArchitectureName is the name of an architecture id ("" when unknown).
func ArchitectureName(id int32) string { return architectures[id] }
