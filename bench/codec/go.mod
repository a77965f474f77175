module github.com/lifeline-mqtt/lifeline/bench/codec

go 1.26.0

replace github.com/lifeline-mqtt/lifeline => ../..

require (
	github.com/eclipse/paho.golang v0.23.0
	github.com/eclipse/paho.mqtt.golang v1.5.1
	github.com/lifeline-mqtt/lifeline v0.0.0
	github.com/mochi-mqtt/server/v2 v2.7.9
)
