// Package configs embeds the default settings of the service.
package configs

import _ "embed"

// Defaults is the text of defaults.env: NAME=value lines and # comments.
//
//go:embed defaults.env
var Defaults string
