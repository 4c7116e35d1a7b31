package bootsvc

import (
	"fmt"
	"testing"
)

// BenchmarkPutGroup: one group put (judged, written atomically with fsync,
// reloaded) into a data directory of 100 groups and a profile.
func BenchmarkPutGroup(b *testing.B) {
	files := map[string]string{"profiles/p.json": `{"id":"p","boot":{"kernel":"/k"}}`}
	for i := range 100 {
		files[fmt.Sprintf("groups/g%d.json", i)] = fmt.Sprintf(`{"id":"g%d","profile":"p","selector":{"mac":"52:54:00:00:01:%02x"}}`, i, i)
	}
	s := newTestServer(b, files, Config{})
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		g := Group{ID: fmt.Sprintf("new%d", i%10), Profile: "p", Selector: map[string]string{"mac": macOf(i%10, 0)}}
		if err := s.PutGroup(g, []byte(`{"n":1}`)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
}
