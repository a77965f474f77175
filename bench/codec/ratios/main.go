// Command ratios reads `go test -bench -benchmem` output of the codec
// comparison on stdin and prints a Markdown table: the median ns/op and
// allocs/op of each implementation per case, and the ratios lifeline/peer
// (below 1 means Lifeline is faster), for Lifeline's zero-copy decode and,
// where measured, its decode into an owned struct (lifeline-owned).
package main

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

type sample struct{ ns, allocs []float64 }

func median(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func main() {
	data := map[string]map[string]*sample{}
	var cases []string
	impls := []string{"lifeline", "lifeline-owned", "mochi", "paho.golang", "paho.mqtt.golang"}
	isOurs := func(impl string) bool { return impl == "lifeline" || impl == "lifeline-owned" }
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndex(name, "-"); i > strings.LastIndex(name, "/") {
			name = name[:i]
		}
		i := strings.LastIndex(name, "/")
		if i < 0 {
			continue
		}
		c, impl := name[:i], name[i+1:]
		var s *sample
		if data[c] == nil {
			data[c] = map[string]*sample{}
			cases = append(cases, c)
		}
		if s = data[c][impl]; s == nil {
			s = &sample{}
			data[c][impl] = s
		}
		for j := 2; j+1 < len(f); j++ {
			v, err := strconv.ParseFloat(f[j], 64)
			if err != nil {
				continue
			}
			switch f[j+1] {
			case "ns/op":
				s.ns = append(s.ns, v)
			case "allocs/op":
				s.allocs = append(s.allocs, v)
			}
		}
	}
	fmt.Println("| case | lifeline | lifeline-owned | mochi | paho.golang | paho.mqtt.golang | lifeline / fastest peer | lifeline-owned / fastest peer |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	worst, worstOwned := 0.0, 0.0
	for _, c := range cases {
		row := "| " + c
		ours := median(data[c]["lifeline"].ns)
		best := 0.0
		for _, impl := range impls {
			s := data[c][impl]
			if s == nil {
				row += " | –"
				continue
			}
			ns := median(s.ns)
			cell := fmt.Sprintf("%.1f ns, %g allocs", ns, median(s.allocs))
			if !isOurs(impl) {
				cell += fmt.Sprintf(" (×%.2f)", ours/ns)
				if best == 0 || ns < best {
					best = ns
				}
			}
			row += " | " + cell
		}
		r := ours / best
		if r > worst {
			worst = r
		}
		owned := "–"
		if s := data[c]["lifeline-owned"]; s != nil {
			ro := median(s.ns) / best
			if ro > worstOwned {
				worstOwned = ro
			}
			owned = fmt.Sprintf("**%.2f**", ro)
		}
		fmt.Printf("%s | **%.2f** | %s |\n", row, r, owned)
	}
	fmt.Printf("\nMedians; (×r) is lifeline ns/op divided by that peer's. Worst lifeline/fastest-peer ratio: %.2f; with the owned decode: %.2f.\n", worst, worstOwned)
}
