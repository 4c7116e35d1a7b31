#!/bin/sh
# rename-power.sh FILE...: rewrites lab's and bmc's former power and boot
# vocabulary to package power (the redesign of issue 9). Idempotent.
sed -i -E \
  -e 's/\blab\.PowerState\b/power.State/g; s/\blab\.PowerOn\b/power.On/g; s/\blab\.PowerOff\b/power.Off/g' \
  -e 's/\blab\.PowerAction\b/power.Action/g; s/\blab\.Action(On|Off|SoftOff|Cycle|Reset)\b/power.Action\1/g' \
  -e 's/\blab\.BootDevice\b/power.BootDevice/g; s/\blab\.Boot(Network|Disk)\b/power.Boot\1/g' \
  -e 's/\bbmc\.PowerState\b/power.State/g; s/\bbmc\.PowerOn\b/power.On/g; s/\bbmc\.PowerOff\b/power.Off/g' \
  -e 's/\bbmc\.PowerAction\b/power.Action/g; s/\bbmc\.Action(On|Off|SoftOff|Cycle|Reset)\b/power.Action\1/g' \
  -e 's/\bbmc\.BootDevice\b/power.BootDevice/g; s/\bbmc\.BootPXE\b/power.BootNetwork/g; s/\bbmc\.BootDisk\b/power.BootDisk/g' \
  -e 's/\bbmc\.BootOptions\b/power.BootOptions/g; s/\bbmc\.PowerStater\b/power.StateReader/g' \
  -e 's/\bbmc\.PowerSetter\b/power.Setter/g; s/\bbmc\.BootDeviceSetter\b/power.BootSetter/g' \
  -e 's/\bbmc\.ParsePowerAction\b/power.ParseAction/g' \
  "$@"
# Names that say what each thing is.
sed -i -E \
  -e 's/\bbmc\.Machine\b/bmc.Server/g; s/\bbmc\.Client\{Machine:/bmc.Client{Server:/g; s/\.BMCMachine\(\)/.BMCServer()/g' \
  -e 's/\bvirtualtest\.Machine\b/virtualtest.VM/g; s/\bvirtualtest\.NewMachine\(/virtualtest.NewVM(/g' \
  "$@"
sed -i -E -e 's/\bMachine:(\s+)bmc\.Server\{/Server:\1bmc.Server{/g' "$@"
