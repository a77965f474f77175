package client

// idSet allocates MQTT packet identifiers (1..65535). An identifier is never
// handed out again while it is in use [MQTT-2.2.1-3]; allocation continues
// round-robin after the last one issued so a freed id is not reused at once,
// which keeps traces easy to read and late duplicates unambiguous.
type idSet struct {
	used [65536 / 64]uint64
	n    int    // ids in use
	last uint16 // last id issued
}

// alloc returns a free identifier, or 0 when all 65535 are in use.
func (s *idSet) alloc() uint16 {
	if s.n >= 65535 {
		return 0
	}
	id := s.last
	for {
		id++
		if id == 0 {
			id = 1
		}
		if !s.has(id) {
			s.take(id)
			s.last = id
			return id
		}
	}
}

func (s *idSet) has(id uint16) bool { return s.used[id>>6]&(1<<(id&63)) != 0 }

// take marks id as in use (used when a resumed session restores ids).
func (s *idSet) take(id uint16) {
	if id != 0 && !s.has(id) {
		s.used[id>>6] |= 1 << (id & 63)
		s.n++
	}
}

// free releases id; freeing an unused id does nothing.
func (s *idSet) free(id uint16) {
	if s.has(id) {
		s.used[id>>6] &^= 1 << (id & 63)
		s.n--
	}
}
