package keys

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// The cloud-init keys (in Table) are what an instance's cloud-init reads,
// through the NoCloud seed its image's templates write (config_get) and
// through /dev/lxd. The user.* spellings are older; they are free-form
// keys, but cloud-init reads them all the same, so they are checked alike.
// cloudInitUserKeys are the older spellings, checked as their new ones.
var cloudInitUserKeys = map[string]func(string) error{
	"user.user-data": checkCloudConfig, "user.vendor-data": checkCloudConfig, "user.network-config": checkYAML, "user.meta-data": checkYAML,
}

// checkCloudConfig checks #cloud-config data is YAML; cloud-init's other
// formats (scripts, MIME multipart, include files) are its to read.
func checkCloudConfig(v string) error {
	body, ok := strings.CutPrefix(v, "#cloud-config")
	if !ok || (body != "" && body[0] != '\n' && body[0] != '\r') {
		return nil
	}
	if err := checkYAML(body); err != nil {
		return fmt.Errorf("#cloud-config data: %v", err)
	}
	return nil
}

// checkYAML checks v is a YAML document, and a mapping when it has
// content (cloud-init reads mappings).
func checkYAML(v string) error {
	var doc any
	if err := yaml.Unmarshal([]byte(v), &doc); err != nil {
		return fmt.Errorf("not valid YAML: %v", err)
	}
	if doc == nil {
		return nil
	}
	if _, ok := doc.(map[string]any); !ok {
		return fmt.Errorf("not a YAML mapping (key: value lines)")
	}
	return nil
}
