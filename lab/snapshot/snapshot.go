// Package snapshot keeps saved labs: one directory per snapshot under a
// root, holding the lab's own files (keys, certificates, boot service data
// and machine log, DHCP leases, BMC password), each machine's saved state
// as its provider wrote it, and a manifest naming the lab, its scenario
// and the images it was made from. A snapshot is written into a temporary
// directory and renamed into place, so it is whole or absent.
package snapshot

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/lab/state"
)

// ManifestName is the manifest inside a snapshot's directory; LabDir holds
// the lab's own files, MachinesDir one directory per machine.
const (
	ManifestName = "snapshot.json"
	LabDir       = "lab"
	MachinesDir  = "machines"
)

// Root is where the snapshots of the labs under stateRoot live: inside it,
// so that a snapshot shares the file system of the labs' disks (hard links,
// not copies), and hidden, so that it is never taken for a lab.
func Root(stateRoot string) string { return filepath.Join(stateRoot, ".snapshots") }

// Manifest describes a snapshot.
type Manifest struct {
	Name    string       `json:"name"`
	State   *state.State `json:"state"` // the lab's state when it was saved: its model, provider, accelerator
	Images  []Image      `json:"images"`
	Created time.Time    `json:"created"`
	// SaveTime is how long each machine took to save (its pause excluded).
	SaveTime map[string]images.Duration `json:"save_time"`
}

// Lab is the name of the lab saved.
func (m *Manifest) Lab() string { return m.State.Lab.Name }

// Image is an image a snapshot's machines were booted from, as it was: a
// restored machine runs on the kernel, initrd and root it was saved with.
type Image struct {
	Name  string     `json:"name"`
	Dir   string     `json:"dir"`
	Key   string     `json:"key"` // the image manifest's key
	Files []FileStat `json:"files"`
}

// FileStat identifies one file of an image without reading it whole.
type FileStat struct {
	Name    string    `json:"name"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mtime"`
}

// IdentifyImage records the image called name built into dir.
func IdentifyImage(name, dir string) (Image, error) {
	raw, err := os.ReadFile(filepath.Join(dir, images.ManifestName))
	if err != nil {
		return Image{}, fmt.Errorf("image %s: %w", name, err)
	}
	var m images.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return Image{}, fmt.Errorf("image %s: %s: %w", name, filepath.Join(dir, images.ManifestName), err)
	}
	img := Image{Name: name, Dir: dir, Key: m.Key}
	for _, f := range m.Files {
		st, err := os.Stat(filepath.Join(dir, f.Name))
		if err != nil {
			return Image{}, fmt.Errorf("image %s: %w", name, err)
		}
		img.Files = append(img.Files, FileStat{Name: f.Name, Size: st.Size(), ModTime: st.ModTime().UTC()})
	}
	return img, nil
}

// Check says why the image is not the one recorded any more: gone from
// its directory, rebuilt, or a file of it changed.
func (img Image) Check() error {
	if _, err := os.Stat(filepath.Join(img.Dir, images.ManifestName)); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("image %s is gone (it was in %s)", img.Name, img.Dir)
	}
	now, err := IdentifyImage(img.Name, img.Dir)
	if err != nil {
		return fmt.Errorf("image %s in %s changed: %w", img.Name, img.Dir, err)
	}
	if now.Key != img.Key {
		return fmt.Errorf("image %s in %s changed: key %s, saved with %s", img.Name, img.Dir, now.Key, img.Key)
	}
	saved := map[string]FileStat{}
	for _, f := range img.Files {
		saved[f.Name] = f
	}
	for _, f := range now.Files {
		if s, ok := saved[f.Name]; !ok || s.Size != f.Size || !s.ModTime.Equal(f.ModTime) {
			return fmt.Errorf("image %s in %s changed: file %s is not the one saved", img.Name, img.Dir, f.Name)
		}
		delete(saved, f.Name)
	}
	for name := range saved {
		return fmt.Errorf("image %s in %s changed: file %s is gone", img.Name, img.Dir, name)
	}
	return nil
}

var snapshotName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// CheckName refuses a snapshot name that could reach outside root.
func CheckName(name string) error {
	if !snapshotName.MatchString(name) || strings.Contains(name, "..") || len(name) > 64 {
		return fmt.Errorf("snapshot name %q: use lower-case letters, digits, '.', '_' and '-' (at most 64, no \"..\")", name)
	}
	return nil
}

// Dir is the directory of the snapshot called name under root.
func Dir(root, name string) string { return filepath.Join(root, name) }

// MachineDir is where a machine's provider keeps its saved state.
func MachineDir(dir, machine string) string { return filepath.Join(dir, MachinesDir, machine) }

// NotFoundError is a snapshot that is not under Root; it matches os.ErrNotExist.
type NotFoundError struct{ Name, Root string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("no snapshot %s (snapshots are in %s; see labctl snapshot ls)", e.Name, e.Root)
}
func (e *NotFoundError) Unwrap() error { return os.ErrNotExist }

// Load reads the manifest of the snapshot called name.
func Load(root, name string) (*Manifest, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(filepath.Join(Dir(root, name), ManifestName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, &NotFoundError{Name: name, Root: root}
	}
	if err != nil {
		return nil, err
	}
	m := &Manifest{}
	if err := json.Unmarshal(raw, m); err != nil {
		return nil, fmt.Errorf("snapshot %s: %s: %w", name, ManifestName, err)
	}
	if m.State == nil || m.State.Lab == nil {
		return nil, fmt.Errorf("snapshot %s: %s records no lab", name, ManifestName)
	}
	return m, nil
}

// Begin makes the temporary directory a snapshot called name is written
// into, refusing a name that is taken.
func Begin(root, name string) (string, error) {
	if err := CheckName(name); err != nil {
		return "", err
	}
	if _, err := os.Stat(Dir(root, name)); err == nil {
		return "", fmt.Errorf("snapshot %s exists (in %s): remove it first with labctl snapshot rm %s", name, root, name)
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", fmt.Errorf("snapshots: %w", err)
	}
	return os.MkdirTemp(root, fmt.Sprintf(".%s.tmp-%d-", name, os.Getpid()))
}

// Commit writes m into tmp (from Begin) and publishes it as the snapshot
// m.Name: the rename is the moment the snapshot exists.
func Commit(root, tmp string, m *Manifest) error {
	raw, err := json.MarshalIndent(m, "", "\t")
	if err != nil {
		return err
	}
	if err := writeSynced(filepath.Join(tmp, ManifestName), append(raw, '\n')); err != nil {
		return fmt.Errorf("snapshot %s: %w", m.Name, err)
	}
	if err := os.Rename(tmp, Dir(root, m.Name)); err != nil {
		return fmt.Errorf("snapshot %s: publish: %w", m.Name, err)
	}
	if d, err := os.Open(root); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func writeSynced(path string, raw []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(raw); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Summary is one snapshot as `labctl snapshot ls` shows it.
type Summary struct {
	Name     string    `json:"name"`
	Lab      string    `json:"lab"`
	Scenario string    `json:"scenario"`
	Provider string    `json:"provider"` // the one a restore uses
	Images   []string  `json:"images"`
	Machines int       `json:"machines"`
	Bytes    int64     `json:"bytes"` // allocated on disk by its files
	Created  time.Time `json:"created"`
}

// List summarises the snapshots under root, sorted by name. Unfinished
// ones (a save that crashed) are not snapshots and are not listed.
func List(root string) ([]Summary, error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return []Summary{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	out := []Summary{}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		m, err := Load(root, e.Name())
		if err != nil {
			continue
		}
		s := Summary{Name: m.Name, Lab: m.Lab(), Scenario: m.State.Source, Provider: m.State.Provider, Machines: len(m.State.Lab.Machines), Created: m.Created}
		for _, img := range m.Images {
			s.Images = append(s.Images, img.Name)
		}
		s.Bytes, _ = DiskUsage(Dir(root, m.Name))
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// DiskUsage is the space dir's files take on disk, each file once however
// many links it has inside dir (images it shares with a lab count here).
func DiskUsage(dir string) (int64, error) {
	seen := map[uint64]bool{}
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
			total += st.Blocks * 512
		}
		return nil
	})
	return total, err
}

// Remove deletes the snapshot called name. Labs restored from it keep
// running: their machines hold hard links to its images, not the images.
func Remove(root, name string) error {
	if _, err := Load(root, name); err != nil {
		return err
	}
	// Renamed first: a crash mid-way leaves a hidden leftover, never a
	// half-removed snapshot under its name.
	gone, err := os.MkdirTemp(root, fmt.Sprintf(".%s.rm-%d-", name, os.Getpid()))
	if err != nil {
		return err
	}
	if err := os.Rename(Dir(root, name), filepath.Join(gone, name)); err != nil {
		os.Remove(gone)
		return fmt.Errorf("remove snapshot %s: %w", name, err)
	}
	return os.RemoveAll(gone)
}

// Sweep removes what saves and removals that crashed left under root:
// the temporary directories of processes that are gone (one of a save
// running meanwhile is its own).
func Sweep(root string) {
	leftovers, _ := filepath.Glob(filepath.Join(root, ".*.tmp-*"))
	gone, _ := filepath.Glob(filepath.Join(root, ".*.rm-*"))
	for _, dir := range append(leftovers, gone...) {
		if pid := ownerPid(dir); pid > 0 && syscall.Kill(pid, 0) == syscall.ESRCH {
			os.RemoveAll(dir)
		}
	}
}

// ownerPid is the pid in a temporary directory's name (.NAME.tmp-PID-N).
func ownerPid(dir string) int {
	base := filepath.Base(dir)
	for _, mark := range []string{".tmp-", ".rm-"} {
		if _, rest, ok := strings.Cut(base, mark); ok {
			pid, _, _ := strings.Cut(rest, "-")
			n, _ := strconv.Atoi(pid)
			return n
		}
	}
	return 0
}

// skipped are the entries of a lab's directory a snapshot does not copy:
// the machines (their providers save them), the assets (hard links to the
// images, linked again on restore), the state (in the manifest) and its lock.
var skipped = map[string]bool{"machines": true, "assets": true, "state.lock": true, state.FileName: true}

// CopyLabFiles copies the lab's own files from the lab directory src into
// dst: regular files and directories, modes kept (keys stay 0600);
// sockets, temporaries of the state file and what skipped names are left.
func CopyLabFiles(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		top := strings.Split(rel, string(filepath.Separator))[0]
		if skipped[top] || strings.HasPrefix(top, state.FileName+".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(to, info.Mode().Perm()|0o700)
		case info.Mode().IsRegular():
			return copyFile(path, to, info.Mode().Perm())
		}
		return nil
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}
