// Package version is Lodge's version, shared by lodged and lodge.
package version

// Version is reported by /1.0 and `lodge version`.
const Version = "0.1.0"
