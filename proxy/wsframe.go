package proxy

// frameBuffered reports whether b, followed by more (the bytes buffered from
// the browser: gorilla's read buffer, then the pageReader's), holds at least
// one whole WebSocket frame (RFC 6455, 5.2). The proxy keeps gathering
// frames into one TCP write while this holds, and writes as soon as it does
// not, so batching never delays a byte that is not followed by more.
func frameBuffered(b, more []byte) bool {
	var hdr [14]byte // the longest frame header: 2 + 8 (length) + 4 (mask)
	h := hdr[:copy(hdr[:], b)]
	h = h[:len(h)+copy(hdr[len(h):], more)]
	total := uint64(len(b)) + uint64(len(more))
	if len(h) < 2 {
		return false
	}
	n := 2
	plen := uint64(h[1] & 0x7f)
	switch plen {
	case 126:
		if len(h) < 4 {
			return false
		}
		plen = uint64(h[2])<<8 | uint64(h[3])
		n = 4
	case 127:
		if len(h) < 10 {
			return false
		}
		plen = 0
		for _, c := range h[2:10] {
			plen = plen<<8 | uint64(c)
		}
		n = 10
	}
	if h[1]&0x80 != 0 {
		n += 4 // masking key
	}
	return total >= uint64(n) && plen <= total-uint64(n)
}
