package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/labctl/labctl/lab"
)

// A machine's disk is two block nodes QEMU opens from -drive (args.go),
// named so that QMP can address them: the qcow2 format node and the file
// beneath it. A disk-fail puts a blkdebug node between the two.
const (
	diskFormatNode = "disk0-format"
	diskFileNode   = "disk0-file"
	diskFailNode   = "disk0-fail"
)

// diskFailEvents are the blkdebug events that arm its error: the format
// driver announces each data read and write, and each flush, on its file
// child just before it sends it there, so the first request fails
// already, and every one after it (reads of its metadata too).
var diskFailEvents = []string{"read_aio", "write_aio", "flush_to_os", "flush_to_disk"}

// eio is the errno blkdebug answers with: an I/O error, which the guest's
// virtio-blk sees as a failed request. (ENOSPC would stop the whole
// machine: -drive's default werror=enospc.)
const eio = 5

// SetDiskFailing makes the machine's disk fail every read, write and
// flush the guest sends it with an I/O error, as a dying disk does, or
// puts the disk back. A blkdebug node goes between the disk's format node
// and its file, by reopening the format node onto it (blockdev-reopen;
// QEMU 7.2 has no blockdev-replace), and out again the same way: neither
// the guest's device nor the image is touched, so the disk healed reads
// what it held. Putting back a disk that does not fail, or a machine that
// is off (a cold start opened its disk anew), is no error.
func (p *Provider) SetDiskFailing(ctx context.Context, l *lab.Lab, machine string, failing bool) error {
	f := machineFiles(l, machine)
	var err error
	switch {
	case failing && qemuPid(f) == 0:
		err = errors.New("not running")
	case failing:
		err = failDisk(f)
	case qemuPid(f) != 0:
		err = unfailDisk(f)
	}
	if err != nil {
		return fmt.Errorf("machine %s: disk-fail: %w", machine, err)
	}
	return nil
}

func failDisk(f files) error {
	// A saved machine's disk is an overlay whose node QEMU named itself;
	// reopening such a node failed and dropped the disk (QEMU 7.2 marked
	// the image corrupt), so only the disk as the machine started is failed.
	var blocks []blockDevice
	if err := qmpQuery(f, `{"execute":"query-block"}`, &blocks); err != nil {
		return err
	}
	i := slices.IndexFunc(blocks, func(b blockDevice) bool { return b.Device == "disk0" })
	switch {
	case i < 0 || blocks[i].Inserted == nil:
		return errors.New("QEMU reports no disk disk0")
	case blocks[i].Inserted.NodeName != diskFormatNode:
		return fmt.Errorf("its disk runs on node %q, not %s as it started (after a snapshot it writes an overlay): only a disk as its machine started can be failed; power cycle the machine first", blocks[i].Inserted.NodeName, diskFormatNode)
	}
	var rules []map[string]any
	for _, ev := range diskFailEvents {
		rules = append(rules, map[string]any{"event": ev, "errno": eio})
	}
	if err := qmpExec(f, "blockdev-add", map[string]any{"driver": "blkdebug", "node-name": diskFailNode, "image": diskFileNode, "inject-error": rules}); err != nil {
		return err
	}
	if err := reopenDisk(f, diskFailNode); err != nil {
		return errors.Join(err, qmpExec(f, "blockdev-del", map[string]any{"node-name": diskFailNode}))
	}
	return nil
}

func unfailDisk(f files) error {
	var nodes []blockNode
	if err := qmpQuery(f, `{"execute":"query-named-block-nodes","arguments":{"flat":true}}`, &nodes); err != nil {
		return err
	}
	if !slices.ContainsFunc(nodes, func(n blockNode) bool { return n.NodeName == diskFailNode }) {
		return nil
	}
	if err := reopenDisk(f, diskFileNode); err != nil {
		return err
	}
	return qmpExec(f, "blockdev-del", map[string]any{"node-name": diskFailNode})
}

// blockDevice is a device of query-block; blockNode a node of
// query-named-block-nodes.
type (
	blockDevice struct {
		Device   string     `json:"device"`
		Inserted *blockNode `json:"inserted"`
	}
	blockNode struct {
		NodeName string `json:"node-name"`
	}
)

// reopenDisk reopens the disk's format node onto the file child named.
func reopenDisk(f files, child string) error {
	return qmpExec(f, "blockdev-reopen", map[string]any{"options": []any{
		map[string]any{"driver": "qcow2", "node-name": diskFormatNode, "file": child}}})
}

// qmpExec runs a QMP command with arguments.
func qmpExec(f files, command string, args any) error {
	raw, err := json.Marshal(map[string]any{"execute": command, "arguments": args})
	if err != nil {
		return err
	}
	return qmpRun(f, string(raw))
}
