package keys

import "testing"

func TestCloudInitKeys(t *testing.T) {
	good := map[string]string{
		"cloud-init.user-data":      "#cloud-config\nusers:\n  - name: ann\n",
		"cloud-init.vendor-data":    "#!/bin/sh\necho hi\n",
		"cloud-init.network-config": "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n",
		"user.user-data":            "#cloud-config",
		"user.network-config":       "",
	}
	for k, v := range good {
		if err := ValidateConfig(map[string]string{k: v}, false); err != nil {
			t.Errorf("%s=%q: %v", k, v, err)
		}
	}
	bad := map[string]string{
		"cloud-init.user-data":      "#cloud-config\nusers: [\n",
		"cloud-init.network-config": "version: 2\n  ethernets: x\n :",
		"user.user-data":            "#cloud-config\n- just\n- a list\n",
		"user.network-config":       "[1, 2",
	}
	for k, v := range bad {
		if err := ValidateConfig(map[string]string{k: v}, false); err == nil {
			t.Errorf("%s=%q was taken", k, v)
		}
	}
}
