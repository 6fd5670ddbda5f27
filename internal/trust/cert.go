// Package trust is lodged's side of TLS: its server certificate, the
// trusted client certificates, and the trust password.
package trust

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// ServerCert loads the server's certificate and key from dir
// (server.crt, server.key), making them at first start: ECDSA P-384,
// self-signed, naming the host's name and every address it has then, so
// that a client that trusts the certificate can also verify the name it
// connects to (LXD's names none).
func ServerCert(dir string) (tls.Certificate, error) {
	crt, key := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	return loadOrMake(crt, key, true)
}

// ClientCert loads the client certificate lodge presents to remotes
// (client.crt, client.key in dir), making it at first use.
func ClientCert(dir string) (tls.Certificate, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, err
	}
	return loadOrMake(filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key"), false)
}

func loadOrMake(crt, key string, server bool) (tls.Certificate, error) {
	if _, err := os.Stat(crt); errors.Is(err, os.ErrNotExist) {
		if err := makeCert(crt, key, server); err != nil {
			return tls.Certificate{}, err
		}
	}
	c, err := tls.LoadX509KeyPair(crt, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load the certificate %s: %w", crt, err)
	}
	return c, nil
}

func makeCert(crtPath, keyPath string, server bool) error {
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	user := "root"
	if u := os.Getenv("USER"); u != "" {
		user = u
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"Lodge"}, CommonName: user + "@" + host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.Subject.CommonName = "root@" + host
		// lodged also reaches other servers (image downloads) with it.
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.DNSNames, tmpl.IPAddresses = []string{host, "localhost"}, hostAddresses()
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := writePEM(keyPath, "EC PRIVATE KEY", keyDER, 0o600); err != nil {
		return err
	}
	return writePEM(crtPath, "CERTIFICATE", der, 0o644)
}

// hostAddresses are the host's addresses, loopback included, link-local
// left out.
func hostAddresses() []net.IP {
	out := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		ipnet, ok := a.(*net.IPNet)
		if !ok || ipnet.IP.IsLoopback() || ipnet.IP.IsLinkLocalUnicast() {
			continue
		}
		out = append(out, ipnet.IP)
	}
	return out
}

// writePEM writes one PEM block to path, whole or not at all.
func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	tmp := path + ".partial"
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Fingerprint is a certificate's SHA-256 fingerprint, in hex, as LXD
// shows it.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// ParseCertificate reads a client's certificate: PEM, or base64 DER as
// LXD's API carries it (the PEM body without its armour).
func ParseCertificate(text string) (*x509.Certificate, error) {
	if block, _ := pem.Decode([]byte(text)); block != nil {
		return x509.ParseCertificate(block.Bytes)
	}
	block, _ := pem.Decode([]byte("-----BEGIN CERTIFICATE-----\n" + text + "\n-----END CERTIFICATE-----\n"))
	if block == nil {
		return nil, errors.New("the certificate is neither PEM nor base64 DER")
	}
	return x509.ParseCertificate(block.Bytes)
}

// PEM is a certificate in PEM form.
func PEM(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}
