// Package state keeps one file per lab that records what has been created
// (namespace, provider, processes) so that `labctl down` works after a crash.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/labctl/labctl/lab"
)

// DefaultRoot is where labs live unless the user names another root
// (labctl --state-dir, LABCTL_STATE_DIR).
const DefaultRoot = "/var/lib/labctl/labs"

// FileName is the state file inside a lab's directory.
const FileName = "state.json"

// Dir returns the directory of the lab called name under root, the parent
// of all labs' directories.
func Dir(root, name string) string { return filepath.Join(root, name) }

// Phase is how far the lab process got.
type Phase string

const (
	Starting Phase = "starting" // written by `labctl up` before anything exists
	Running  Phase = "running"  // network, boot service, dnsmasq and machines are up
	Failed   Phase = "failed"   // the lab process gave up; Error says why
	Stopping Phase = "stopping"
	// Broken is never recorded: status reports it when a running lab's
	// process, namespace or machines are not really there.
	Broken Phase = "broken"
)

// State is what a lab's state file holds. Pids are keyed by role: "labd",
// "dnsmasq", "libvirtd", "qemu/<machine>".
type State struct {
	Source   string   `json:"source"` // scenario name or directory, as given to `labctl up`
	Lab      *lab.Lab `json:"lab"`
	Provider string   `json:"provider"`
	Accel    string   `json:"accel,omitempty"` // kvm or tcg, once the provider chose
	// Kubernetes is the version of the cluster's Kubernetes (the one the
	// scenario's images pin), for `labctl kubectl`; "" without Kubernetes.
	Kubernetes string         `json:"kubernetes,omitempty"`
	Phase      Phase          `json:"phase"`
	Error      string         `json:"error,omitempty"`
	Pids       map[string]int `json:"pids,omitempty"`
	// MadeNetns records that this lab created Lab.Netns: only then does
	// `down` (or a failed `up`) touch the namespace and what is inside it.
	MadeNetns bool `json:"made_netns,omitempty"`
	// MadeOperatorNetns records that this lab created Lab.OperatorNetns()
	// (a simulated rack's operator namespace): only then does down delete it.
	MadeOperatorNetns bool `json:"made_operator_netns,omitempty"`
	// Exits records, by role, processes that died without being asked to
	// (how and when), so that status can say what died.
	Exits map[string]string `json:"exits,omitempty"`
	// Faults are the faults injected and not yet healed (a scenario's
	// steps, `labctl fault inject`), recorded before they are applied so
	// that status lists them and down heals them, even after a crash.
	Faults []Fault `json:"faults,omitempty"`
	// Images are the directories the lab's assets were linked from, by
	// image name: what a snapshot of the lab records as its images.
	Images map[string]string `json:"images,omitempty"`
	// Restore is the snapshot directory the lab process starts the
	// machines from (labctl up --from-snapshot); "" boots them afresh.
	Restore string    `json:"restore,omitempty"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// Fault is an active fault: its id and its spec (a scenario.Fault, kept
// as its JSON: the state sits below the scenario model).
type Fault struct {
	ID    string          `json:"id"`
	Spec  json.RawMessage `json:"spec"`
	Since time.Time       `json:"since"`
	// BootPath says that the fault takes the machines' boot path away (the
	// boot service, DHCP): a machine's failed boot meanwhile is retried,
	// not its end (lab/progress).
	BootPath bool `json:"boot_path,omitempty"`
}

// OwnsNetns reports whether this lab made Lab.Netns. States written before
// MadeNetns existed recorded the lab process only after making the
// namespace, so a recorded lab process counts too.
// A rack's lab (Lab.Rack) runs in a namespace that is not its own.
func (s *State) OwnsNetns() bool {
	if s.Lab != nil && s.Lab.Rack != nil {
		return false
	}
	return s.MadeNetns || s.Pids["labd"] != 0
}

// Load reads the state file in dir. A lab that is not up gives an error
// matching os.ErrNotExist.
func Load(dir string) (*State, error) {
	raw, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		return nil, err
	}
	s := &State{}
	if err := json.Unmarshal(raw, s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, FileName), err)
	}
	// A test's artifacts hold a copy of the state file: taken for the lab,
	// it would lead down to destroy the lab it names, which lives elsewhere.
	if s.Lab != nil && !sameDir(s.Lab.Dir, dir) {
		return nil, fmt.Errorf("%s records lab %s in %s: %w", filepath.Join(dir, FileName), s.Lab.Name, s.Lab.Dir, ErrCopy)
	}
	return s, nil
}

// ErrCopy is a state file found outside the lab's directory (a copy in a
// test's artifacts): it names a lab, it is not one.
var ErrCopy = errors.New("a copy of a lab's state, not a lab (artifacts?)")

func sameDir(a, b string) bool {
	a, errA := filepath.Abs(a)
	b, errB := filepath.Abs(b)
	return errA == nil && errB == nil && a == b
}

// UpError refuses a lab whose state file exists: it is up (or crashed and
// needs taking down).
type UpError struct{ Name, Dir string }

func (e *UpError) Error() string {
	return fmt.Sprintf("lab %s is already up (state in %s)", e.Name, e.Dir)
}

// CheckNotUp returns an *UpError if the lab called name has a state file
// in dir.
func CheckNotUp(dir, name string) error {
	if _, err := os.Stat(filepath.Join(dir, FileName)); err == nil {
		return &UpError{Name: name, Dir: dir}
	}
	return nil
}

// Create writes a fresh state file for s.Lab in s.Lab.Dir. It fails with
// an *UpError if one exists already.
func Create(s *State) error {
	dir := s.Lab.Dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create lab directory: %w", err)
	}
	return withLock(dir, func() error {
		if err := CheckNotUp(dir, s.Lab.Name); err != nil {
			return err
		}
		s.Created = time.Now().UTC()
		return save(dir, s)
	})
}

// Update applies fn to the state in dir under a lock and writes the result
// atomically, so the CLI, the lab process and the provider can all record
// what they create.
func Update(dir string, fn func(*State)) error {
	return withLock(dir, func() error {
		s, err := Load(dir)
		if err != nil {
			return fmt.Errorf("update lab state: %w", err)
		}
		fn(s)
		return save(dir, s)
	})
}

// SetPid records (pid > 0) or forgets (pid == 0) the process playing role.
func SetPid(dir, role string, pid int) error {
	return Update(dir, func(s *State) {
		if pid == 0 {
			delete(s.Pids, role)
			return
		}
		if s.Pids == nil {
			s.Pids = map[string]int{}
		}
		s.Pids[role] = pid
	})
}

// SetExit records (how != "") or forgets (how == "") that the process
// playing role died unasked.
func SetExit(dir, role, how string) error {
	return Update(dir, func(s *State) {
		if how == "" {
			delete(s.Exits, role)
			return
		}
		if s.Exits == nil {
			s.Exits = map[string]string{}
		}
		s.Exits[role] = how
	})
}

// Remove deletes the lab's directory: state, disks and logs.
func Remove(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove lab directory: %w", err)
	}
	return nil
}

func save(dir string, s *State) error {
	s.Updated = time.Now().UTC()
	raw, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, FileName+".*")
	if err != nil {
		return fmt.Errorf("write lab state: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(append(raw, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, FileName)); err != nil {
		return fmt.Errorf("write lab state: %w", err)
	}
	return nil
}

// withLock serialises writers across processes with flock on a lock file
// beside the state (the state file itself is replaced on every write).
func withLock(dir string, fn func() error) error {
	f, err := os.OpenFile(filepath.Join(dir, "state.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("lab directory %s: %w", dir, err)
		}
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return fn()
}
