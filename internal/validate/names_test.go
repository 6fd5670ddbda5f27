package validate

import "testing"

func TestInstanceName(t *testing.T) {
	for _, good := range []string{"c1", "web-01", "A"} {
		if err := InstanceName(good); err != nil {
			t.Errorf("%q refused: %v", good, err)
		}
	}
	for _, bad := range []string{"", "../x", "a/b", "-a", "a-", "1abc", "a_b", string(make([]byte, 64))} {
		if err := InstanceName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestAliasName(t *testing.T) {
	if err := AliasName("debian/12"); err == nil {
		t.Error("alias with a slash accepted")
	}
	if err := AliasName("busybox"); err != nil {
		t.Error(err)
	}
}

func TestPoolName(t *testing.T) {
	for _, ok := range []string{"default", "fast-ssd", "p.2", "a_b"} {
		if err := PoolName(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "..", ".hidden", "a/b", "-x", "a b", string(make([]byte, 64))} {
		if err := PoolName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
