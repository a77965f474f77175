//go:build !js

package codec

// The CONNECT fast path (see fast.go), left out of the WebAssembly client,
// which decodes a CONNECT only to draw or dissect it: 4 KB of code less
// for every visitor to download (fast_connect_js.go).

func (p *Connect) decodeFast(b []byte) bool {
	if len(b) < 14 || b[0] != byte(TypeConnect)<<4 {
		return false
	}
	i, ok := fastHeader(b)
	if !ok || len(b)-i < 10 {
		return false
	}
	h := b[i : i+10]
	if h[0] != 0 || h[1] != 4 || h[2] != 'M' || h[3] != 'Q' || h[4] != 'T' || h[5] != 'T' {
		return false
	}
	v, f := Version(h[6]), h[7]
	if v != V311 && v != V5 {
		return false
	}
	if f&flagReserved != 0 || f&flagWillQoS == flagWillQoS ||
		(f&flagWill == 0 && f&(flagWillQoS|flagWillRetain) != 0) ||
		(v == V311 && f&(flagUsername|flagPassword) == flagPassword) {
		return false
	}
	i += 10
	if !p.Properties.empty() {
		p.Properties.reset()
	}
	if !p.WillProperties.empty() {
		p.WillProperties.reset()
	}
	if v == V5 {
		if i, ok = fastProps(b, i, &p.Properties, TypeConnect, TypeConnect, v); !ok {
			return false
		}
	}
	var (
		id, willTopic, user string
		willPayload, pass   []byte
	)
	if id, i, _, ok = fastStr(b, i); !ok {
		return false
	}
	if f&flagWill != 0 {
		if v == V5 {
			if i, ok = fastProps(b, i, &p.WillProperties, TypeConnect, 0, v); !ok {
				return false
			}
		}
		var sf int
		if willTopic, i, sf, ok = fastStr(b, i); !ok || willTopic == "" || sf&scanWildcard != 0 {
			return false
		}
		if willPayload, i, ok = fastBin(b, i); !ok {
			return false
		}
	}
	if f&flagUsername != 0 {
		if user, i, _, ok = fastStr(b, i); !ok {
			return false
		}
	}
	if f&flagPassword != 0 {
		if pass, i, ok = fastBin(b, i); !ok {
			return false
		}
	}
	if i != len(b) {
		return false
	}
	p.Version, p.KeepAlive, p.ClientID = v, uint16(h[8])<<8|uint16(h[9]), id
	p.CleanStart, p.WillFlag, p.WillQoS, p.WillRetain = f&flagClean != 0, f&flagWill != 0, QoS(f&flagWillQoS>>3), f&flagWillRetain != 0
	p.WillTopic, p.WillPayload = willTopic, willPayload
	p.UsernameFlag, p.Username, p.PasswordFlag, p.Password = f&flagUsername != 0, user, f&flagPassword != 0, pass
	return true
}

// fastBin reads Binary Data at b[i:].
func fastBin(b []byte, i int) ([]byte, int, bool) {
	if len(b)-i < 2 {
		return nil, 0, false
	}
	n := int(b[i])<<8 | int(b[i+1])
	i += 2
	if len(b)-i < n {
		return nil, 0, false
	}
	return b[i : i+n : i+n], i + n, true
}
