package proxy

// frameBuffered reports whether b (the bytes buffered from the browser) holds
// at least one whole WebSocket frame (RFC 6455, 5.2). The proxy keeps
// gathering frames into one TCP write while this holds, and writes as soon as
// it does not, so batching never delays a byte that is not followed by more.
func frameBuffered(b []byte) bool {
	if len(b) < 2 {
		return false
	}
	n := 2
	plen := uint64(b[1] & 0x7f)
	switch plen {
	case 126:
		if len(b) < 4 {
			return false
		}
		plen = uint64(b[2])<<8 | uint64(b[3])
		n = 4
	case 127:
		if len(b) < 10 {
			return false
		}
		plen = 0
		for _, c := range b[2:10] {
			plen = plen<<8 | uint64(c)
		}
		n = 10
	}
	if b[1]&0x80 != 0 {
		n += 4 // masking key
	}
	return len(b) >= n && plen <= uint64(len(b)-n)
}
