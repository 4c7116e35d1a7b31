package lab

import "context"

// Snapshotter is a provider that can save its running machines' memory,
// device state and disks into a directory and start them again from one
// (labctl snapshot save, labctl up --from-snapshot). The caller pauses
// every machine of a lab before saving any, so that the lab is captured at
// one instant, and resumes them together.
type Snapshotter interface {
	// Pause stops the machine's virtual CPUs; Resume starts them again.
	Pause(ctx context.Context, l *Lab, machine string) error
	Resume(ctx context.Context, l *Lab, machine string) error
	// SaveMachine saves a paused machine into dir (its own, empty): its
	// memory and device state, its disk (copy-on-write: the disk as it is
	// becomes a read-only base, shared with dir, and the machine goes on
	// in a new overlay) and its NVRAM.
	SaveMachine(ctx context.Context, l *Lab, machine, dir string) error
	// RestoreMachine makes m again from what SaveMachine wrote in dir, on
	// a writable overlay of its own, and starts it paused (see Resume).
	RestoreMachine(ctx context.Context, l *Lab, m Machine, dir string) error
}
