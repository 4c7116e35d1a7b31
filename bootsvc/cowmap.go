package bootsvc

import (
	"hash/maphash"
	"maps"
)

const cowShards = 256

// cowMap is a map that a write copies one shard at a time: a snapshot with
// one entry changed shares every other shard with the snapshot before it,
// so a write into 10,000 groups copies about 40 entries and 256 pointers,
// and readers of the old snapshot never see the change.
type cowMap[K comparable, V any] struct {
	shards *[cowShards]map[K]V
	seed   maphash.Seed
	hash   func(maphash.Seed, K) uint64
	n      int
}

func newCowMap[K comparable, V any](hash func(maphash.Seed, K) uint64) cowMap[K, V] {
	return cowMap[K, V]{shards: new([cowShards]map[K]V), seed: maphash.MakeSeed(), hash: hash}
}

func (m cowMap[K, V]) shard(k K) int { return int(m.hash(m.seed, k) % cowShards) }

func (m cowMap[K, V]) get(k K) (V, bool) {
	v, ok := m.shards[m.shard(k)][k]
	return v, ok
}

func (m cowMap[K, V]) len() int { return m.n }

// set changes m in place: only while building a map nobody reads yet.
func (m *cowMap[K, V]) set(k K, v V) {
	i := m.shard(k)
	if m.shards[i] == nil {
		m.shards[i] = map[K]V{}
	}
	if _, ok := m.shards[i][k]; !ok {
		m.n++
	}
	m.shards[i][k] = v
}

// with returns a copy of m holding k=v; m is unchanged.
func (m cowMap[K, V]) with(k K, v V) cowMap[K, V] {
	i := m.shard(k)
	shards := *m.shards
	s := maps.Clone(shards[i])
	if s == nil {
		s = map[K]V{}
	}
	if _, ok := s[k]; !ok {
		m.n++
	}
	s[k] = v
	shards[i] = s
	m.shards = &shards
	return m
}

// without returns a copy of m without k; m is unchanged.
func (m cowMap[K, V]) without(k K) cowMap[K, V] {
	i := m.shard(k)
	if _, ok := m.shards[i][k]; !ok {
		return m
	}
	shards := *m.shards
	s := maps.Clone(shards[i])
	delete(s, k)
	shards[i] = s
	m.shards = &shards
	m.n--
	return m
}

// each calls fn for every entry, in no particular order.
func (m cowMap[K, V]) each(fn func(K, V)) {
	for _, s := range m.shards {
		for k, v := range s {
			fn(k, v)
		}
	}
}

func hashString(seed maphash.Seed, s string) uint64 { return maphash.String(seed, s) }

func hashPair(seed maphash.Seed, p pair) uint64 {
	return maphash.String(seed, p.k)*31 ^ maphash.String(seed, p.v)
}
