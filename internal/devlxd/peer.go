package devlxd

import (
	"fmt"
	"net"
	"net/http"
	"os"

	"golang.org/x/sys/unix"
)

// fromInstance answers only peers that are processes of the instance:
// its socket is reachable from the host too (its folder is under
// $LODGE_DIR), and the instance's config is its own.
func (s *Server) fromInstance(key string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Context().Value(connKey{}).(net.Conn)
		if err := s.checkPeer(key, c); err != nil {
			s.log.Warn("devlxd: a request from outside the instance", "instance", key, "err", err)
			http.Error(w, "not authorized", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkPeer compares the PID namespace of the connection's peer with
// that of the instance's init.
func (s *Server) checkPeer(key string, c net.Conn) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("not a unix connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if credErr != nil {
		return credErr
	}
	init := s.src.InitPID(key)
	if init == 0 {
		return fmt.Errorf("the instance is not running")
	}
	peerNS, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", cred.Pid))
	if err != nil {
		return fmt.Errorf("peer %d: %w", cred.Pid, err)
	}
	initNS, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", init))
	if err != nil {
		return err
	}
	if peerNS != initNS {
		return fmt.Errorf("peer pid %d is in %s, the instance in %s", cred.Pid, peerNS, initNS)
	}
	return nil
}
