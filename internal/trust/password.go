package trust

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// The trust password is kept only as a salted PBKDF2-SHA512 hash:
// "pbkdf2-sha512$<iterations>$<salt>$<hash>", in hex.

const passwordIterations = 100000

// HashPassword hashes a new trust password.
func HashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	sum, err := pbkdf2.Key(sha512.New, password, salt, passwordIterations, 64)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("pbkdf2-sha512$%d$%s$%s", passwordIterations, hex.EncodeToString(salt), hex.EncodeToString(sum)), nil
}

// CheckPassword says whether password matches hash, in constant time.
func CheckPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 4 || parts[0] != "pbkdf2-sha512" {
		return false
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 {
		return false
	}
	salt, err1 := hex.DecodeString(parts[2])
	want, err2 := hex.DecodeString(parts[3])
	if err1 != nil || err2 != nil {
		return false
	}
	got, err := pbkdf2.Key(sha512.New, password, salt, iter, len(want))
	return err == nil && subtle.ConstantTimeCompare(got, want) == 1
}
