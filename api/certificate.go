package api

// CertificatesPost is the body of POST /1.0/certificates: a certificate to
// trust (a trusted client adds any; an untrusted one adds its own, with
// the trust password).
type CertificatesPost struct {
	CertificatePut `yaml:",inline"`
	Password       string `json:"password" yaml:"password"`
	Token          bool   `json:"token" yaml:"token"`
}

// CertificatePut is a trusted certificate's editable fields.
type CertificatePut struct {
	Name        string   `json:"name" yaml:"name"`
	Type        string   `json:"type" yaml:"type"`
	Restricted  bool     `json:"restricted" yaml:"restricted"`
	Projects    []string `json:"projects" yaml:"projects"`
	Certificate string   `json:"certificate" yaml:"certificate"`
}

// Certificate is a trusted certificate as GET /1.0/certificates/<fp>
// shows it.
type Certificate struct {
	CertificatePut `yaml:",inline"`
	Fingerprint    string `json:"fingerprint" yaml:"fingerprint"`
}
