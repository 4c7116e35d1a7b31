package dnsmasq

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
)

// Transfer is one file dnsmasq's TFTP server sent completely.
type Transfer struct {
	File string // the path dnsmasq sent, under its TFTP root
	To   string // the client's address
}

// dnsmasq logs a finished TFTP transfer as
// "dnsmasq-tftp[PID]: sent /root/ipxe.efi to 10.77.30.12".
var sentLine = regexp.MustCompile(`dnsmasq-tftp\[\d+\]: sent (\S+) to (\S+)\s*$`)

// TFTPTransfers reads the transfers from dnsmasq's log (log-facility,
// which the lab's config sets): which machine got which file over TFTP.
func TFTPTransfers(r io.Reader) ([]Transfer, error) {
	var ts []Transfer
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if t, ok := TFTPSent(sc.Text()); ok {
			ts = append(ts, t)
		}
	}
	return ts, sc.Err()
}

// TFTPSent reads one line of dnsmasq's log: the transfer it reports
// finished, if it is such a line.
func TFTPSent(line string) (Transfer, bool) {
	m := sentLine.FindStringSubmatch(line)
	if m == nil {
		return Transfer{}, false
	}
	return Transfer{File: m[1], To: m[2]}, true
}

// TFTPTransfersIn reads the transfers from the log file at path; a log
// that does not exist yet holds none.
func TFTPTransfersIn(path string) ([]Transfer, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dnsmasq log: %w", err)
	}
	defer f.Close()
	ts, err := TFTPTransfers(f)
	if err != nil {
		return nil, fmt.Errorf("dnsmasq log %s: %w", path, err)
	}
	return ts, nil
}
