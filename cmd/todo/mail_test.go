package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"todo/platform/config"
	"todo/platform/database"
	"todo/platform/mail"
	"todo/platform/migrate"
)

// TestServeSendsQueuedMail: `todo serve` runs the mail worker. Mail queued
// before the start goes out (here, with no MAIL_SMTP_URL, to the log, token
// in place), so a restart resumes what the previous process left queued.
func TestServeSendsQueuedMail(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := database.Open(ctx, config.Database{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.ApplyEmbedded(ctx, db, migrate.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Ent.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := mail.Enqueue(ctx, tx, mail.Message{To: "ann@example.com", Subject: "Confirm your email",
		Body: "http://127.0.0.1:8080/verify-email?token={{secret}}", Secret: "queued-before-start"}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	_, out, stop := startServe(t, map[string]string{"DATA_DIR": dir})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.text(), "verify-email?token=queued-before-start") {
		if time.Now().After(deadline) {
			t.Fatalf("the queued mail was not written to the log:\n%s", out.text())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v", err)
	}
	for _, want := range []string{`"msg":"mail worker started"`, `"msg":"mail worker stopped"`} {
		if !strings.Contains(out.text(), want) {
			t.Errorf("log lacks %s", want)
		}
	}
}

// TestProductionNeedsSMTP: in production, mail (and its tokens) must not
// go to the log: serve refuses to start without MAIL_SMTP_URL.
func TestProductionNeedsSMTP(t *testing.T) {
	err := run(context.Background(), []string{"serve"}, envFunc(map[string]string{
		"APP_ENV": "production", "DATA_DIR": t.TempDir(), "AUTH_SECRET": testSecret,
	}), nil, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "MAIL_SMTP_URL:") {
		t.Fatalf("serve in production without MAIL_SMTP_URL: %v", err)
	}
}
