package wsclient_test

import (
	"fmt"

	"github.com/lifeline-mqtt/lifeline/wsclient"
)

func ExampleParseURL() {
	for _, s := range []string{"ws://broker.example/mqtt", "mqtts://broker.example", "ws://broker.example:70000/"} {
		t, err := wsclient.ParseURL(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(t, t.WebSocket(), t.TLS())
	}
	// Output:
	// ws://broker.example:80/mqtt true false
	// mqtts://broker.example:8883 false true
	// bad URL "ws://broker.example:70000/": port 70000 is out of range 1-65535
}

func ExampleParseClose() {
	code, reason, err := wsclient.ParseClose([]byte{0x03, 0xe9, 'b', 'y', 'e'})
	fmt.Println(wsclient.CloseText(code, reason), err)
	_, _, err = wsclient.ParseClose([]byte{0x03, 0xee})
	fmt.Println(err)
	// Output:
	// 1001 going away "bye" <nil>
	// invalid WebSocket frame: close code 1006 may not be sent
}
