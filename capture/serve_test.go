package capture

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/lifeline-mqtt/lifeline/embedded"
	"github.com/lifeline-mqtt/lifeline/internal/testenv"
	"github.com/lifeline-mqtt/lifeline/internal/wstest"
	"github.com/lifeline-mqtt/lifeline/proxy"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// TestCaptureThroughProxy captures, on loopback, a session through the
// proxy of `lifeline serve` — the page's WebSocket, the proxy's DNS query to
// the embedded zone and its TCP connection to the embedded broker — and
// checks the import against tshark and against the live trace the proxy
// reported over /trace: the same MQTT bytes in the same order on both legs,
// the same DNS messages, and the handshakes.
func TestCaptureThroughProxy(t *testing.T) {
	emb := testenv.StartEmbedded(t)
	dns, bap := emb.DNS, emb.BrokerAddr

	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	host := srv.Listener.Addr().String()
	allow, err := proxy.ParseAllow("*:1883")
	if err != nil {
		t.Fatal(err)
	}
	p := proxy.New(proxy.Config{
		Policy:        proxy.Policy{Allow: allow, Exempt: []netip.AddrPort{bap}, Zone: embedded.Zone},
		DefaultBroker: embedded.BrokerName + ":" + strconv.Itoa(int(bap.Port())),
		Hosts:         []string{host},
		Origins:       []string{"http://" + host},
		Zone:          embedded.Zone,
		ZoneServer:    dns.Addr().String(),
		Nameserver:    dns.Addr().String(),
		DialTimeout:   3 * time.Second,
	})
	mux.HandleFunc("GET /mqtt", p.ServeMQTT)
	mux.HandleFunc("GET /trace", p.ServeTrace)
	srv.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Shutdown(ctx)
		srv.Close()
	})
	httpPort := netip.MustParseAddrPort(host).Port()
	dnsPort := uint16(dns.Addr().Port)
	stop := startCapture(t, false, int(httpPort), int(dnsPort), int(bap.Port()))

	// The trace side channel, collecting entries.
	origin := http.Header{"Origin": {"http://" + host}}
	tws, _, err := wstest.Dial("ws://"+host+"/trace", origin)
	if err != nil {
		t.Fatal(err)
	}
	var hello struct{ Token string }
	if err := tws.ReceiveJSON(&hello); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var live []trace.Entry
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			var m struct {
				Type  string
				Entry *trace.Entry
			}
			if err := wsjson.Read(context.Background(), tws.Conn, &m); err != nil { // until the CloseNow below
				return
			}
			if m.Type == "entry" && m.Entry != nil {
				mu.Lock()
				live = append(live, *m.Entry)
				mu.Unlock()
			}
		}
	}()
	defer func() { tws.CloseNow(); <-done }()

	// The page's session: MQTT 5 over the proxy's WebSocket.
	url := "ws://" + host + "/mqtt?broker=" + embedded.BrokerName + ":" + strconv.Itoa(int(bap.Port())) + "&trace=" + hello.Token
	ws, _, err := wstest.Dial(url, origin, "mqtt")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	send := func(b ...byte) {
		t.Helper()
		if err := ws.Send(websocket.MessageBinary, b); err != nil {
			t.Fatal(err)
		}
	}
	// The proxy forwards the broker's bytes as they come: a WebSocket
	// message may hold several packets.
	var pending []byte
	next := func() []byte {
		t.Helper()
		for {
			if n, err := mqttPacketLen(pending, 0); err != nil {
				t.Fatal(err)
			} else if n > 0 && len(pending) >= n {
				p := pending[:n:n]
				pending = pending[n:]
				return p
			}
			_, b, err := ws.Receive()
			if err != nil {
				t.Fatal(err)
			}
			pending = append(pending, b...)
		}
	}
	recv := func(want byte) []byte {
		t.Helper()
		b := next()
		if b[0]>>4 != want {
			t.Fatalf("read %x, want packet type %d", b, want)
		}
		return b
	}
	send(0x10, 16, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 30, 0, 0, 3, 'c', 'a', 'p')
	recv(2)
	send(0x82, 9, 0, 1, 0, 0, 3, 'c', '/', 'x', 1) // SUBSCRIBE c/x QoS 1
	recv(9)
	send(0x32, 10, 0, 3, 'c', '/', 'x', 0, 7, 0, 'h', 'i') // PUBLISH QoS 1 id 7
	var theirs []byte
	for i := 0; i < 2; i++ { // PUBACK and the broker's PUBLISH, in either order
		if b := next(); b[0]>>4 == 3 {
			theirs = b
		}
	}
	if theirs == nil {
		t.Fatal("the broker did not deliver the message")
	}
	id := theirs[2+2+3 : 2+2+3+2]
	send(0x40, 2, id[0], id[1])
	send(0xe0, 0)
	// Let the DISCONNECT reach the broker before closing the WebSocket:
	// the proxy drops what it has not yet written when the page closes.
	waitLive := func(what string, ok func(trace.Entry) bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			mu.Lock()
			found := slices.ContainsFunc(live, ok)
			mu.Unlock()
			if found {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s in the live trace", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitLive("FIN from the broker", func(e trace.Entry) bool { return e.Kind == trace.KindTCPFin && e.From == "broker" })
	ws.Close(websocket.StatusNormalClosure, "bye") // and waits for the proxy's close

	waitLive("WebSocket close", func(e trace.Entry) bool { return e.Kind == trace.KindWSClose })
	file := stop()
	if k := os.Getenv("KEEP"); k != "" {
		b, _ := os.ReadFile(file)
		os.WriteFile(k, b, 0o644)
	}
	mu.Lock()
	liveTrace := append([]trace.Entry(nil), live...)
	mu.Unlock()

	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var items []Item
	sum, err := Scan(f, Options{DNSPorts: []uint16{dnsPort}}, func(it Item) error {
		items = append(items, it)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Problems) > 0 {
		t.Errorf("problems: %v", sum.Problems)
	}

	// The capture holds two MQTT connections: the page's WebSocket and the
	// proxy's TCP connection to the broker, with the same packets.
	byLeg := map[string][]string{}
	var dnsGot []string
	for _, it := range items {
		e := it.Entry
		if strings.HasPrefix(e.Kind, "mqtt.") {
			dir := "up"
			if strings.HasSuffix(e.From, ":"+strconv.Itoa(int(bap.Port()))) || strings.HasSuffix(e.From, ":"+strconv.Itoa(int(httpPort))) {
				dir = "down"
			}
			byLeg[e.Leg+" "+dir] = append(byLeg[e.Leg+" "+dir], string(e.Bytes))
		}
		if strings.HasPrefix(e.Kind, "dns.") {
			dnsGot = append(dnsGot, e.Kind+" "+string(e.Bytes))
		}
	}
	liveLeg := map[string][]string{}
	var dnsWant []string
	for _, e := range liveTrace {
		if strings.HasPrefix(e.Kind, "mqtt.") && e.Leg == trace.LegProxyBroker {
			dir := "up"
			if e.From == "broker" {
				dir = "down"
			}
			liveLeg[dir] = append(liveLeg[dir], string(e.Bytes))
		}
		if strings.HasPrefix(e.Kind, "dns.") {
			dnsWant = append(dnsWant, e.Kind+" "+string(e.Bytes))
		}
	}
	if len(liveLeg["up"]) < 5 || len(liveLeg["down"]) < 4 {
		t.Fatalf("the live trace has too few MQTT packets: %d up, %d down", len(liveLeg["up"]), len(liveLeg["down"]))
	}
	for _, dir := range []string{"up", "down"} {
		for _, leg := range []string{trace.LegClientBroker, trace.LegBrowserBroker} {
			if strings.Join(byLeg[leg+" "+dir], "|") != strings.Join(liveLeg[dir], "|") {
				t.Errorf("%s %s: capture %q, live trace %q", leg, dir, byLeg[leg+" "+dir], liveLeg[dir])
			}
		}
	}
	// The resolver's goroutines may report the answers in another order
	// than the wire saw them.
	slices.Sort(dnsGot)
	slices.Sort(dnsWant)
	if strings.Join(dnsGot, "|") != strings.Join(dnsWant, "|") || len(dnsWant) == 0 {
		t.Errorf("DNS: capture %q, live trace %q", dnsGot, dnsWant)
	}
	if len(sum.Conns) != 2 || !sum.Conns[0].WebSocket || sum.Conns[1].DNSName != embedded.BrokerName || sum.Conns[1].ClientID != "cap" {
		out, _ := json.Marshal(sum.Conns)
		t.Errorf("conns %s: want the WebSocket, then the broker connection resolved from %s, both of client cap", out, embedded.BrokerName)
	}
	decodeAs := []string{"tcp.port==" + strconv.Itoa(int(bap.Port())) + ",mqtt", "tcp.port==" + strconv.Itoa(int(httpPort)) + ",http",
		"udp.port==" + strconv.Itoa(int(dnsPort)) + ",dns"}
	checkAgainstTshark(t, file, items, decodeAs)
}
