//go:build e2e

package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// selfSignedFiles writes a certificate for 127.0.0.1 and its key.
func selfSignedFiles(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lifeline e2e"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestPageOverTLSUnderBasePath: served with -tls-cert/-tls-key under
// -base-path /lifeline/, the page loads from https://…/lifeline/, opens
// wss://…/lifeline/trace and wss://…/lifeline/mqtt (its URLs follow its
// location), and draws the proxy's side of a session.
func TestPageOverTLSUnderBasePath(t *testing.T) {
	cert, key := selfSignedFiles(t)
	s := startServer(t, "-embedded-broker", "127.0.0.1:0", "-tls-cert", cert, "-tls-key", key, "-base-path", "/lifeline/")
	if !strings.HasPrefix(s.URL, "https://127.0.0.1:") || !strings.HasSuffix(s.URL, "/lifeline") {
		t.Fatalf("serving %s, want https://127.0.0.1:PORT/lifeline/", s.URL)
	}
	ctx := newBrowser(t, chromedp.Flag("ignore-certificate-errors", true))
	openPage(t, ctx, s)
	waitFor(t, ctx, "the broker from /api/config", `document.querySelector('#connect-form [name=broker]').value.startsWith('broker.lifeline.test:') && document.querySelector('#connect-form [name=broker]').value !== 'broker.lifeline.test:1883'`, 10*time.Second)
	broker := eval[string](t, ctx, `document.querySelector('#connect-form [name=broker]').value`)
	eval[bool](t, ctx, `lifeline.connect({broker: `+jsString(broker)+`, clientId: 'tls-base'}).then(() => true)`)
	waitFor(t, ctx, "the proxy's CONNACK", `lifeline.trace().some(e => e.kind === 'mqtt.CONNACK' && e.leg === 'proxy-broker')`, 10*time.Second)
	for _, kind := range []string{"dns.query", "tcp.syn", "ws.accept"} {
		if !eval[bool](t, ctx, `lifeline.trace().some(e => e.kind === `+jsString(kind)+` && e.conn === 'c1')`) {
			t.Errorf("no %s from the proxy's trace channel", kind)
		}
	}
	urls := eval[string](t, ctx, `performance.getEntriesByType('resource').map(e => e.name).join(' ')`)
	for _, want := range []string{s.URL + "/app.js", s.URL + "/wasm/main.wasm", s.URL + "/api/config"} {
		if !strings.Contains(urls, want) {
			t.Errorf("the page did not load %s; it loaded %s", want, urls)
		}
	}
	eval[bool](t, ctx, `lifeline.disconnect({}).then(() => true)`)
}
