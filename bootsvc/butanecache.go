package bootsvc

import (
	"sync"

	"github.com/coreos/vcontext/report"
)

// butaneCache remembers Butane translations by their rendered input: a
// translation costs about a millisecond, while machines fetch the same
// config again (retries, reinstalls) and often share one text. Two
// generations give an approximate LRU: when the young one fills, the old
// one is dropped. Only successful translations are kept.
type butaneCache struct {
	mu         sync.Mutex
	young, old map[string]butaneResult
}

type butaneResult struct {
	ignition []byte
	report   report.Report
}

const butaneCacheGeneration = 4096 // entries; configs are a few KB each

func (c *butaneCache) translate(name string, rendered []byte) ([]byte, report.Report, error) {
	key := string(rendered)
	c.mu.Lock()
	r, ok := c.young[key]
	if !ok {
		if r, ok = c.old[key]; ok {
			c.putLocked(key, r)
		}
	}
	c.mu.Unlock()
	if ok {
		return r.ignition, r.report, nil
	}
	out, rpt, err := butaneToIgnition(name, rendered)
	if err != nil {
		return nil, rpt, err
	}
	c.mu.Lock()
	c.putLocked(key, butaneResult{out, rpt})
	c.mu.Unlock()
	return out, rpt, nil
}

func (c *butaneCache) putLocked(key string, r butaneResult) {
	if c.young == nil || len(c.young) >= butaneCacheGeneration {
		c.old, c.young = c.young, make(map[string]butaneResult, butaneCacheGeneration)
	}
	c.young[key] = r
}
