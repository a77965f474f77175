package diagram

// index finds a kept arrow by its seq and an exchange by its ID without a
// map: both are numbered in increasing order and forgotten roughly in that
// order (paged out by time), so a slice from the lowest kept number serves
// nearly every lookup with one bounds check. Go's map hashing is slow in
// WebAssembly (no AES: memhashFallback): a map of seqs took a tenth of the
// page's time per arrow in a flood. Numbers far from the rest (an opened
// trace's sparse seqs) and the few kept long after those around them are
// paged out go to a map instead. A number is in one place: the slice when
// it holds it, else the map.
type index[T any] struct {
	base   int  // the number of dense[0]
	dense  []*T // by number - base; nil for none
	buf    []*T // the array dense is in (see grow)
	n      int  // non-nil in dense
	sparse map[int]*T
}

// indexGap is how far past the slice's end a number may fall and still be
// placed in it (the gap filled with nils).
const indexGap = 1024

func (x *index[T]) get(k int) *T {
	if i := uint(k - x.base); i < uint(len(x.dense)) {
		if v := x.dense[i]; v != nil {
			return v
		}
	}
	return x.sparse[k]
}

// put adds v as number k, which the index does not hold.
func (x *index[T]) put(k int, v *T) {
	if x.n == 0 { // the slice is empty: start it here
		x.base = k
	}
	i := k - x.base
	if i < 0 || i > len(x.dense)+indexGap {
		if x.sparse == nil {
			x.sparse = map[int]*T{}
		}
		x.sparse[k] = v
		return
	}
	for len(x.dense) <= i {
		if len(x.dense) == cap(x.dense) {
			x.grow()
		}
		x.dense = append(x.dense, nil)
	}
	x.dense[i] = v
	x.n++
}

// del forgets number k.
func (x *index[T]) del(k int) {
	i := uint(k - x.base)
	if i >= uint(len(x.dense)) || x.dense[i] == nil {
		delete(x.sparse, k)
		return
	}
	x.dense[i] = nil
	x.n--
	x.trim()
	// One number kept long after those around it were forgotten would
	// keep a slice as long as all numbers given since: past twice the
	// numbers held (and a gap), the oldest move to the map.
	for len(x.dense) > 2*x.n+indexGap {
		if x.sparse == nil {
			x.sparse = map[int]*T{}
		}
		x.sparse[x.base] = x.dense[0]
		x.dense[0] = nil
		x.n--
		x.trim()
	}
}

// grow makes room after dense: it is moved to the start of its array (as
// the numbers before it were forgotten), or to a new one twice its size.
// Not grown by append, which would allocate each time.
func (x *index[T]) grow() {
	n := len(x.dense)
	if cap(x.buf) < 2*n+64 {
		x.buf = make([]*T, 0, 2*n+64)
	}
	x.buf = append(x.buf[:0], x.dense...)
	clear(x.buf[n:cap(x.buf)])
	x.dense = x.buf
}

// trim drops the nils at the slice's start.
func (x *index[T]) trim() {
	j := 0
	for j < len(x.dense) && x.dense[j] == nil {
		j++
	}
	x.base += j
	x.dense = x.dense[j:]
}

// len is the number of numbers held.
func (x *index[T]) len() int { return x.n + len(x.sparse) }
