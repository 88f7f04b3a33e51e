// Package schema is the data model: one Ent schema per table (User, Task,
// TaskCounter, TaskTombstone, Session, RefreshToken, IdempotencyKey,
// MailOutbox) and their shared mixins. `go generate ./ent/...` writes the
// client in the parent directory from it, and `todo migrate diff` writes the
// Atlas migrations. It imports only Ent, the standard library and uuid; the
// archtest package enforces that.
package schema
