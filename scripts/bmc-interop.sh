#!/bin/bash
# By-hand interoperability run (docs/racks.md, "BMC interoperability"):
# labctl's BMC clients against sushy-tools (Redfish, libvirt driver) and
# virtualbmc (IPMI), both run from their own sources on Debian's Python
# (scripts/install-deps.sh installs what they import), driving the libvirt
# domains of a pxe-smoke lab (libvirt provider) inside the lab's namespace.
#
#   flock /tmp/labctl-vm.lock scripts/bmc-interop.sh SUSHY_TOOLS_DIR VIRTUALBMC_DIR [WORK_DIR]
#
# The two directories are checkouts (or `git archive`s) of
# opendev.org/openstack/sushy-tools and opendev.org/openstack/virtualbmc;
# this script fetches nothing. WORK_DIR (default: a new temporary one) gets
# the lab's state, the emulators' configuration and logs, and the
# inventories. Every command is printed with its output and the domain's
# state and boot devices as libvirt holds them. Run as root.
set -u
if (($# < 2 || $# > 3)); then
	sed -n '8p' "$0" >&2
	exit 2
fi
SUSHY=$(realpath "$1")
VBMC=$(realpath "$2")
W=$(realpath -m "${3:-$(mktemp -d /tmp/bmc-interop.XXXX)}")
mkdir -p "$W"
L=$(realpath "$(dirname "$0")/../bin/labctl")
[[ -x $L ]] || { echo "$L: build it first (go build -o bin/labctl ./cmd/labctl)" >&2; exit 2; }
S=$W/state
NS=labctl-bmcinterop
GW=10.77.0.1
URI="qemu:///system?socket=$S/pxe-smoke/libvirt/libvirt-sock"
PY=/usr/bin/python3
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  $L down pxe-smoke --state-dir $S >/dev/null 2>&1
}
trap cleanup EXIT
trap "exit 1" INT TERM
# The emulators' one user, with a random password (htpasswd with bcrypt for sushy-tools).
head -c 12 /dev/urandom | base64 | tr -d '/+=\n' > $W/pw
chmod 600 $W/pw
$PY -c "import bcrypt,sys; print('admin:'+bcrypt.hashpw(open(sys.argv[1]).read().encode(), bcrypt.gensalt()).decode())" $W/pw > $W/htpasswd
mkdir -p $S
step() { echo; echo "## $*"; }
bootxml() { # loader, <os><boot dev>, and each device's <boot order>
  $PY -c '
import sys, xml.etree.ElementTree as ET
d = ET.fromstring(sys.stdin.read()); out = []
for l in d.findall("os/loader"): out.append("loader=" + (l.text or "").rsplit("/", 1)[-1])
for b in d.findall("os/boot"): out.append("os/boot=" + b.get("dev"))
for dev in d.find("devices"):
    b = dev.find("boot")
    if b is not None: out.append("%s(%s)=%s" % (dev.tag, dev.get("device") or dev.get("type"), b.get("order")))
print(" ".join(out))'
}
domain() { # state and boot order of a domain: saved (next power-on) and running
  local st=$(ip netns exec $NS virsh -c "$URI" domstate $1 2>&1 | head -1)
  echo "   $1: $st; boot (saved): $(ip netns exec $NS virsh -c "$URI" dumpxml --inactive $1 | bootxml)"
  [[ $st == running ]] && echo "   $1: boot (running): $(ip netns exec $NS virsh -c "$URI" dumpxml $1 | bootxml)"
  return 0
}
step "labctl up pxe-smoke --provider libvirt"
$L up pxe-smoke --provider libvirt --netns $NS --state-dir $S 2>&1 | tail -3
for m in bios1 uefi1; do domain $m; done

cat > $W/sushy.conf <<EOC
SUSHY_EMULATOR_LISTEN_IP = '$GW'
SUSHY_EMULATOR_LISTEN_PORT = 8000
SUSHY_EMULATOR_AUTH_FILE = '$W/htpasswd'
SUSHY_EMULATOR_LIBVIRT_URI = '$URI'
SUSHY_EMULATOR_STATE_DIR = '$W/state-sushy'
EOC
(cd $SUSHY && PBR_VERSION=0.0.0 PYTHONPATH=. exec ip netns exec $NS $PY -m sushy_tools.emulator.main --config $W/sushy.conf) > $W/sushy.log 2>&1 &
pids+=($!)
mkdir -p $W/vbmc
cat > $W/vbmc.conf <<EOC
[default]
config_dir = $W/vbmc
pid_file = $W/vbmc/vbmcd.pid
server_port = 50891
EOC
export VIRTUALBMC_CONFIG=$W/vbmc.conf
# vbmc finds its subcommands as entry points: describe the source tree as an
# installed distribution (metadata only, from its pyproject.toml).
$PY - "$VBMC" "$W/pyshim" <<'EOP'
import os, sys, tomllib
src, out = sys.argv[1], sys.argv[2]
project = tomllib.load(open(os.path.join(src, 'pyproject.toml'), 'rb'))['project']
d = os.path.join(out, 'virtualbmc-0.0.0.dist-info')
os.makedirs(d, exist_ok=True)
open(os.path.join(d, 'METADATA'), 'w').write('Metadata-Version: 2.1\nName: virtualbmc\nVersion: 0.0.0\n')
with open(os.path.join(d, 'entry_points.txt'), 'w') as f:
    for group, eps in project.get('entry-points', {}).items():
        f.write('[%s]\n' % group + ''.join('%s = %s\n' % kv for kv in eps.items()))
EOP
(cd $VBMC && PBR_VERSION=0.0.0 PYTHONPATH=.:$W/pyshim exec ip netns exec $NS $PY -c 'import sys; from virtualbmc.cmd.vbmcd import main; sys.exit(main(["--foreground"]))') > $W/vbmcd.log 2>&1 &
pids+=($!)
for i in $(seq 100); do ip netns exec $NS curl -s -o /dev/null http://$GW:8000/redfish/v1/ && break; sleep 0.2; done
vbmc() { (cd $VBMC && PBR_VERSION=0.0.0 PYTHONPATH=.:$W/pyshim ip netns exec $NS $PY -c 'import sys; from virtualbmc.cmd.vbmc import main; sys.exit(main(sys.argv[1:]))' "$@"); }
for i in $(seq 50); do vbmc list >/dev/null 2>&1 && break; sleep 0.2; done
vbmc add bios1 --port 6240 --address $GW --libvirt-uri "$URI" --username admin --password "$(cat $W/pw)"
vbmc add uefi1 --port 6241 --address $GW --libvirt-uri "$URI" --username admin --password "$(cat $W/pw)"
vbmc start bios1; vbmc start uefi1; vbmc list

cat > $W/inv.yaml <<EOC
machines:
EOC
i=0
for m in bios1 uefi1; do
  uuid=$(ip netns exec $NS virsh -c "$URI" domuuid $m | head -1)
  mac=$(ip netns exec $NS virsh -c "$URI" domiflist $m | awk '/:/{print $5}')
  cat >> $W/inv.yaml <<EOC
  - name: $m
    uuid: $uuid
    mac: "$mac"
    bmc:
      - protocol: redfish
        address: http://$GW:8000
        username: admin
        password_file: pw
        timeout: 60s
      - protocol: ipmi
        address: $GW:624$i
        username: admin
        password_file: pw
        timeout: 30s
EOC
  i=$((i+1))
done
cat $W/inv.yaml
bmc() { ip netns exec $NS $L bmc "$@" --inventory $W/inv.yaml 2>&1 | sed 's/^/   /'; }
for proto in redfish ipmi; do
  # an inventory per protocol: each machine with only that protocol's endpoint
  $PY - "$proto" "$W" <<'EOP'
import sys, re
proto = sys.argv[1]
src = open(sys.argv[2] + '/inv.yaml').read()
out, keep = [], True
for line in src.splitlines():
    m = re.match(r'\s+- protocol: (\w+)', line)
    if m: keep = m.group(1) == proto
    elif re.match(r'\s+- name:', line): keep = True
    if keep: out.append(line)
open(sys.argv[2] + '/inv-%s.yaml' % proto, 'w').write('\n'.join(out) + '\n')
EOP
done
for proto in redfish ipmi; do
  for m in bios1 uefi1; do
    step "$proto $m"
    for c in "power status" "power on" "power status" "bootdev pxe --once" "power cycle" "bootdev disk" "power off" "power status" "bootdev disk"; do
      echo "   \$ labctl bmc $c $m   ($proto)"
      ip netns exec $NS $L bmc $c --inventory $W/inv-$proto.yaml $m 2>&1 | sed 's/^/     /'
      domain $m
    done
  done
done
step "reprovision bios1 through virtualbmc (IPMI: one-time boot applied persistently, no power cycle)"
ip netns exec $NS $L reprovision --inventory $W/inv-ipmi.yaml --bootsvc http://$GW:8080 --protocol ipmi --timeout 4m bios1 2>&1 | sed 's/^/     /'
domain bios1
step "redfish: a mode asked for (bios1 --uefi, uefi1 --uefi)"
for m in bios1 uefi1; do
  ip netns exec $NS $L bmc bootdev pxe --uefi --inventory $W/inv-redfish.yaml $m 2>&1 | sed 's/^/     /'
  domain $m
done
step "reprovision uefi1 through sushy-tools (no one-time boot)"
ip netns exec $NS $L reprovision --inventory $W/inv-redfish.yaml --bootsvc http://$GW:8080 --protocol redfish --timeout 4m uefi1 2>&1 | sed 's/^/     /'
domain uefi1
echo; echo "## sushy-tools log (errors)"; grep -E " 50[0-9] | 4[0-9][0-9] |Error|error" $W/sushy.log | tail -15
