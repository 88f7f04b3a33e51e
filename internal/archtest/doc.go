// Package archtest holds no code, only tests: they read the module's import
// graph with `go list -deps -test` and fail when a package crosses one of the
// boundaries in docs/architecture.md (modules do not import modules, platform
// imports no module, ent/schema imports only Ent, uuid and the standard
// library, the web client imports no module and only cmd/ imports it).
package archtest
