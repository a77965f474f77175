package diagram

// index finds a kept arrow by its seq without a map: seqs are given in
// increasing order and forgotten roughly in that order (paged out by
// time), so a slice from the lowest kept seq serves nearly every lookup
// with one bounds check. Go's map hashing is slow in WebAssembly (no AES:
// memhashFallback): a map of seqs took a tenth of the page's time per
// arrow in a flood. Seqs far from the rest (an opened trace's sparse
// ones) and the few kept long after those around them were paged out go
// to a map instead. A seq is in one place: the slice when it holds it,
// else the map.
type index struct {
	base   int     // the seq of dense[0]
	dense  []*item // by seq - base; nil for none
	buf    []*item // the array dense is in (see roomy)
	n      int     // non-nil in dense
	sparse map[int]*item
}

// indexGap is how far past the slice's end a seq may fall and still be
// placed in it (the gap filled with nils).
const indexGap = 1024

func (x *index) get(k int) *item {
	if i := uint(k - x.base); i < uint(len(x.dense)) {
		if v := x.dense[i]; v != nil {
			return v
		}
	}
	return x.sparse[k]
}

// put adds v as seq k, which the index does not hold.
func (x *index) put(k int, v *item) {
	if x.n == 0 { // the slice is empty: start it here
		x.base = k
	}
	i := k - x.base
	if i < 0 || i > len(x.dense)+indexGap {
		x.toSparse(k, v)
		return
	}
	if i >= cap(x.dense) {
		x.buf = roomy(x.buf, x.dense, len(x.dense)+indexGap)
		x.dense = x.buf
	}
	x.dense = x.dense[:max(len(x.dense), i+1)] // nils past its end (roomy)
	x.dense[i] = v
	x.n++
}

func (x *index) toSparse(k int, v *item) {
	if x.sparse == nil {
		x.sparse = map[int]*item{}
	}
	x.sparse[k] = v
}

// del forgets seq k.
func (x *index) del(k int) {
	i := uint(k - x.base)
	if i >= uint(len(x.dense)) || x.dense[i] == nil {
		delete(x.sparse, k)
		return
	}
	x.dense[i] = nil
	x.n--
	// The slice starts at the lowest seq held. One kept long after
	// those around it were forgotten would keep a slice as long as all
	// seqs given since: past twice the seqs held (and a gap), the oldest
	// move to the map.
	for len(x.dense) > 0 && (x.dense[0] == nil || len(x.dense) > 2*x.n+indexGap) {
		if v := x.dense[0]; v != nil {
			x.toSparse(x.base, v)
			x.dense[0] = nil
			x.n--
		}
		x.dense = x.dense[1:]
		x.base++
	}
}

// len is the number of seqs held.
func (x *index) len() int { return x.n + len(x.sparse) }

// roomy returns s moved to the start of buf, or of a new array if buf
// has not room for more after it, with what follows it cleared. A slice
// forgotten at its start and added to at its end (the arrows, the seq
// index) moves when the room runs short, not at each change (a move of
// pointers runs the collector's write barrier, slow in WebAssembly), and
// is not grown by append, which would allocate each time.
func roomy(buf, s []*item, more int) []*item {
	k := len(s)
	if cap(buf) < k+more {
		buf = make([]*item, 0, k+more)
	}
	buf = append(buf[:0], s...)
	clear(buf[k:cap(buf)])
	return buf
}
