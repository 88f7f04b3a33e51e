package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"todo/platform/config"
	"todo/platform/database"
	"todo/platform/httpx"
	"todo/platform/logging"
)

func serve(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	if err := cfg.CheckServe(); err != nil {
		return err
	}
	log := logging.New(stdout, cfg.Log)
	if cfg.Auth.Secret == "" {
		if cfg.Auth.Secret, err = embeddedSecret(cfg.Database.DataDir); err != nil {
			return err
		}
	}
	db, err := database.Open(ctx, cfg.Database)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer func() {
		_ = db.Close()
		log.Info("database closed")
	}()
	if err := migrateAtStart(ctx, cfg.Database, db, log); err != nil {
		return err
	}
	h, err := newHandler(ctx, cfg, db, log)
	if err != nil {
		return err
	}
	return httpx.Serve(ctx, cfg.HTTP, log, h)
}

// embeddedSecret reads the token signing secret of the embedded default from
// DATA_DIR/auth_secret, creating it with 32 random bytes on first start.
func embeddedSecret(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "auth_secret")
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) >= config.MinSecretLen {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return "", fmt.Errorf("create %s: %w", dataDir, err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	secret := hex.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return secret, nil
}
