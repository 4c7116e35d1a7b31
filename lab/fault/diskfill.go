package fault

import (
	"context"
	"fmt"
	"strings"

	"github.com/labctl/labctl/lab/scenario"
)

// A disk-fill is one file of the fault's own on the filesystem of its
// path, made over SSH: fallocate reserves the space at once (writing
// gigabytes under TCG would take minutes), and dd writes the blocks it
// leaves (ext4 keeps some for the file's extents). "Full" counts the blocks reserved for root too (stat -f's
// free blocks, not df's available ones): a filesystem full only for
// others would still take root's writes. Removing the file heals it.

// fillFile is the file a disk-fill makes in its directory.
func fillFile(path, id string) string {
	return strings.TrimSuffix(path, "/") + "/.labctl-fill-" + id
}

// fillScript fills the filesystem of dir to percent (0: full) with file
// and then proves it: full, a write of one block must fail; to a percent,
// df must show at least that much used. Its output ends in the proof.
func fillScript(dir, file string, percent int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "set -e; d=%s; f=%s\n", dir, file)
	b.WriteString("[ -d \"$d\" ] || { echo \"no directory $d\"; exit 2; }\n")
	b.WriteString("bs=$(stat -f -c %S \"$d\"); free=$(stat -f -c %f \"$d\"); total=$(stat -f -c %b \"$d\")\n")
	if percent == 0 || percent == 100 {
		// Leave 16 blocks for the file's own extents; dd takes them.
		b.WriteString("n=$(( free > 16 ? free - 16 : 0 ))\n")
		// Extents need blocks of their own: ext4 refuses the last few
		// hundred, keeping what it did allocate; dd writes the rest.
		b.WriteString("[ \"$n\" -eq 0 ] || fallocate -l $(( n * bs )) \"$f\" 2>/dev/null || true\n")
		b.WriteString("dd if=/dev/zero of=\"$f\" bs=\"$bs\" oflag=append conv=notrunc,fsync status=none 2>/dev/null || true\n")
		b.WriteString("sync\n")
		b.WriteString("if dd if=/dev/zero of=\"$d/.labctl-fill-probe\" bs=\"$bs\" count=1 conv=fsync status=none 2>&1; then rm -f \"$d/.labctl-fill-probe\"; echo WRITABLE; else rm -f \"$d/.labctl-fill-probe\"; echo FULL; fi\n")
	} else {
		fmt.Fprintf(&b, "want=$(( (total * %d + 99) / 100 )); used=$(( total - free ))\n", percent)
		b.WriteString("[ \"$used\" -ge \"$want\" ] || fallocate -l $(( (want - used) * bs )) \"$f\"\n")
		b.WriteString("sync; echo USED $(( total - $(stat -f -c %f \"$d\") )) OF $total\n")
	}
	return b.String()
}

// diskFill fills each machine's filesystem and reads the proof back.
func diskFill(ctx context.Context, env Env, id string, f scenario.Fault) error {
	return onEach(f.Machines, func(name string) error {
		m, _, err := env.Lab.Machine(name)
		if err != nil {
			return err
		}
		out, status, err := env.Shell.Run(ctx, m, fillScript(f.Path, fillFile(f.Path, id), f.Percent))
		if err != nil {
			return err
		}
		out = strings.TrimSpace(out)
		if status != 0 {
			return fmt.Errorf("fill %s: exit status %d: %s", f.Path, status, out)
		}
		last := out[strings.LastIndex(out, "\n")+1:]
		if f.Percent == 0 || f.Percent == 100 {
			if last != "FULL" {
				return &NotEffectiveError{Fault: f.String(), Reason: fmt.Sprintf("%s: a write to %s still succeeds: %s", name, f.Path, out)}
			}
			return nil
		}
		var used, total int64
		if _, err := fmt.Sscanf(last, "USED %d OF %d", &used, &total); err != nil || total == 0 {
			return fmt.Errorf("fill %s: unexpected output %q", f.Path, out)
		}
		if used*100 < total*int64(f.Percent) {
			return &NotEffectiveError{Fault: f.String(), Reason: fmt.Sprintf("%s: %s is %d%% used", name, f.Path, used*100/total)}
		}
		return nil
	})
}

// unfill removes each machine's fill file; a machine that lost it (a
// live machine rebooted) has nothing to heal.
func unfill(ctx context.Context, env Env, id string, f scenario.Fault) error {
	return onEach(f.Machines, func(name string) error {
		m, _, err := env.Lab.Machine(name)
		if err != nil {
			return err
		}
		file := fillFile(f.Path, id)
		out, status, err := env.Shell.Run(ctx, m, "rm -f "+file)
		if err == nil && status != 0 {
			err = fmt.Errorf("rm %s: exit status %d: %s", file, status, strings.TrimSpace(out))
		}
		return err
	})
}
