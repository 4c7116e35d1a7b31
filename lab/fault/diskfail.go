package fault

import (
	"context"
	"fmt"
	"strings"

	"github.com/labctl/labctl/lab"
	"github.com/labctl/labctl/lab/scenario"
)

// DiskFailer is a provider that can make a machine's disk fail its I/O
// and put it back (lab/qemu: a blkdebug node reopened into its disk).
type DiskFailer interface {
	SetDiskFailing(ctx context.Context, l *lab.Lab, machine string, failing bool) error
}

func diskFailer(env Env) (DiskFailer, error) {
	df, ok := env.Provider.(DiskFailer)
	if !ok {
		return nil, fmt.Errorf("provider %s cannot make a disk fail", env.Provider.Name())
	}
	return df, nil
}

// diskProbe is what the guest sees of its disk (the first virtio disk),
// bypassing its page cache (O_DIRECT): one block read, then written back
// as it was, so that the probe changes nothing on a disk that works. Its
// last line is WORKS, or FAILS with the error the guest's kernel gave.
const diskProbe = `d=$(ls /sys/block | grep -m1 '^vd') || { echo "no virtio disk in /sys/block"; exit 2; }
t=$(mktemp) || exit 2
if ! e=$(dd if=/dev/$d of="$t" bs=4096 count=1 iflag=direct status=none 2>&1); then rm -f "$t"; echo "FAILS read /dev/$d: $e"; exit 0; fi
if ! e=$(dd if="$t" of=/dev/$d bs=4096 count=1 oflag=direct conv=notrunc,fsync status=none 2>&1); then rm -f "$t"; echo "FAILS write /dev/$d: $e"; exit 0; fi
rm -f "$t"; echo "WORKS /dev/$d"
`

// probeDisk runs diskProbe on the machine: whether its disk fails, and
// what the guest said.
func probeDisk(ctx context.Context, env Env, name string) (fails bool, said string, err error) {
	m, _, err := env.Lab.Machine(name)
	if err != nil {
		return false, "", err
	}
	out, status, err := env.Shell.Run(ctx, m, diskProbe)
	if err != nil {
		return false, "", err
	}
	out = strings.TrimSpace(out)
	last := out[strings.LastIndex(out, "\n")+1:]
	switch {
	case status != 0:
		return false, "", fmt.Errorf("disk probe: exit status %d: %s", status, out)
	case strings.HasPrefix(last, "FAILS"):
		return true, last, nil
	case strings.HasPrefix(last, "WORKS"):
		return false, last, nil
	}
	return false, "", fmt.Errorf("disk probe: unexpected output %q", out)
}

// diskFail makes each machine's disk fail and proves it from inside the
// guest: its disk, read and written before, fails after.
func diskFail(ctx context.Context, env Env, f scenario.Fault) error {
	df, err := diskFailer(env)
	if err != nil {
		return err
	}
	return onEach(f.Machines, func(name string) error {
		if fails, said, err := probeDisk(ctx, env, name); err != nil || fails {
			return fmt.Errorf("before failing its disk, the probe fails already, so it would prove nothing: %s%v", said, err)
		}
		if err := df.SetDiskFailing(ctx, env.Lab, name, true); err != nil {
			return err
		}
		fails, said, err := probeDisk(ctx, env, name)
		if err != nil {
			return err
		}
		if !fails {
			return &NotEffectiveError{Fault: "disk-fail " + name, Reason: "the guest still reads and writes its disk: " + said}
		}
		return nil
	})
}

// healDisk puts each machine's disk back.
func healDisk(ctx context.Context, env Env, f scenario.Fault) error {
	df, err := diskFailer(env)
	if err != nil {
		return err
	}
	return onEach(f.Machines, func(name string) error {
		return df.SetDiskFailing(ctx, env.Lab, name, false)
	})
}
