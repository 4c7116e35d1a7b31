package bootsvc

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// matchboxDataDir is a data directory written the way matchbox's own
// examples are: ids that differ from file names, a README among the groups,
// MACs in hyphen form, and FCOS's "--name main" initrd trick.
var matchboxDataDir = map[string]string{
	"groups/README.md": "Groups select profiles.\n",
	"groups/install.json": `{
	"id": "stage-0",
	"name": "Fedora CoreOS install",
	"profile": "fedora-coreos-install",
	"selector": {"mac": "52-54-00-A1-9C-AE"}
}`,
	"groups/default.json": `{"id": "default", "profile": "simple"}`,
	"profiles/fedora-coreos-install.json": `{
	"id": "fedora-coreos-install",
	"name": "Fedora CoreOS install",
	"boot": {
		"kernel": "/assets/fedora-coreos/fedora-coreos-36.20220906.3.2-live-kernel-x86_64",
		"initrd": [
			"--name main /assets/fedora-coreos/fedora-coreos-36.20220906.3.2-live-initramfs.x86_64.img"
		],
		"args": [
			"initrd=main",
			"coreos.live.rootfs_url=http://matchbox.example.com:8080/assets/fedora-coreos/fedora-coreos-36.20220906.3.2-live-rootfs.x86_64.img",
			"coreos.inst.install_dev=/dev/sda",
			"coreos.inst.ignition_url=http://matchbox.example.com:8080/ignition?uuid=${uuid}&mac=${mac:hexhyp}"
		]
	},
	"ignition_id": "fedora-coreos.ign"
}`,
	"profiles/simple.json": `{
	"id": "simple",
	"boot": {"kernel": "/image/kernel", "initrd": ["/image/initrd_a", "/image/initrd_b"], "args": ["a=b", "c"]}
}`,
	"ignition/fedora-coreos.ign": `{"ignition":{"version":"3.3.0"}}`,
}

func TestMatchboxCompatibleOutput(t *testing.T) {
	srv := httptest.NewServer(newTestServer(t, matchboxDataDir, Config{}).Handler())
	defer srv.Close()
	tests := []struct {
		name, path, want string
	}{
		{"boot.ipxe", "/boot.ipxe", "#!ipxe\nchain ipxe?uuid=${uuid}&mac=${mac:hexhyp}&domain=${domain}&hostname=${hostname}&serial=${serial}&arch=${buildarch:uristring}\n"},
		{"boot.ipxe.0", "/boot.ipxe.0", "#!ipxe\nchain ipxe?uuid=${uuid}&mac=${mac:hexhyp}&domain=${domain}&hostname=${hostname}&serial=${serial}&arch=${buildarch:uristring}\n"},
		// matchbox's ipxe_test fixture profile.
		{"ipxe default", "/ipxe?uuid=&mac=52-54-00-00-00-01&domain=&hostname=&serial=&arch=x86_64",
			"#!ipxe\nkernel /image/kernel a=b c\ninitrd /image/initrd_a\ninitrd /image/initrd_b\nboot\n"},
		// matchbox's grub_test fixture, byte for byte (note the two spaces after initrd).
		{"grub default", "/grub", `default=0
fallback=1
timeout=1
menuentry "CoreOS (EFI)" {
echo "Loading kernel"
linuxefi "/image/kernel" a=b c
echo "Loading initrd"
initrdefi  "/image/initrd_a" "/image/initrd_b"
}
menuentry "CoreOS (BIOS)" {
echo "Loading kernel"
linux "/image/kernel" a=b c
echo "Loading initrd"
initrd  "/image/initrd_a" "/image/initrd_b"
}
`},
		{"ipxe FCOS by MAC", "/ipxe?uuid=&mac=52-54-00-a1-9c-ae&domain=&hostname=&serial=&arch=x86_64", "#!ipxe\n" +
			"kernel /assets/fedora-coreos/fedora-coreos-36.20220906.3.2-live-kernel-x86_64 initrd=main coreos.live.rootfs_url=http://matchbox.example.com:8080/assets/fedora-coreos/fedora-coreos-36.20220906.3.2-live-rootfs.x86_64.img coreos.inst.install_dev=/dev/sda coreos.inst.ignition_url=http://matchbox.example.com:8080/ignition?uuid=${uuid}&mac=${mac:hexhyp}\n" +
			"initrd --name main /assets/fedora-coreos/fedora-coreos-36.20220906.3.2-live-initramfs.x86_64.img\n" +
			"boot\n"},
		{"grub FCOS by MAC", "/grub?mac=52:54:00:a1:9c:ae", `default=0
fallback=1
timeout=1
menuentry "CoreOS (EFI)" {
echo "Loading kernel"
linuxefi "/assets/fedora-coreos/fedora-coreos-36.20220906.3.2-live-kernel-x86_64" initrd=main coreos.live.rootfs_url=http://matchbox.example.com:8080/assets/fedora-coreos/fedora-coreos-36.20220906.3.2-live-rootfs.x86_64.img coreos.inst.install_dev=/dev/sda coreos.inst.ignition_url=http://matchbox.example.com:8080/ignition?uuid=${uuid}&mac=${mac:hexhyp}
echo "Loading initrd"
initrdefi  "--name main /assets/fedora-coreos/fedora-coreos-36.20220906.3.2-live-initramfs.x86_64.img"
}
menuentry "CoreOS (BIOS)" {
echo "Loading kernel"
linux "/assets/fedora-coreos/fedora-coreos-36.20220906.3.2-live-kernel-x86_64" initrd=main coreos.live.rootfs_url=http://matchbox.example.com:8080/assets/fedora-coreos/fedora-coreos-36.20220906.3.2-live-rootfs.x86_64.img coreos.inst.install_dev=/dev/sda coreos.inst.ignition_url=http://matchbox.example.com:8080/ignition?uuid=${uuid}&mac=${mac:hexhyp}
echo "Loading initrd"
initrd  "--name main /assets/fedora-coreos/fedora-coreos-36.20220906.3.2-live-initramfs.x86_64.img"
}
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if string(body) != tt.want {
				t.Errorf("body differs from matchbox's\n got: %q\nwant: %q", body, tt.want)
			}
		})
	}
}
