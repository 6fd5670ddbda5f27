package container

import (
	"strconv"

	"github.com/sirupsen/logrus"
)

// childLogLevel is the log level libcontainer passes to its runc init
// children. Unset, its C part logs every step at debug level: some thirty
// JSON messages per start or exec, written to a pipe and decoded by lodged
// only to be dropped.
var childLogLevel = strconv.Itoa(int(logrus.ErrorLevel))
