module github.com/lifeline-mqtt/lifeline

go 1.26
