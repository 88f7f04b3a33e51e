package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestCheckTarget(t *testing.T) {
	ok := []string{
		"http://127.0.0.1:8080", "http://127.1.2.3:80/", "http://localhost:8080", "http://LOCALHOST",
		"http://[::1]:8080", "https://127.0.0.1", "http://127.0.0.1:8080/base",
	}
	for _, u := range ok {
		if err := checkTarget(u, false); err != nil {
			t.Errorf("checkTarget(%q) = %v, want nil", u, err)
		}
	}
	remote := []string{
		"http://10.0.0.1:8080", "http://example.com", "http://128.0.0.1", "http://[::2]:80",
		"http://0.0.0.0:8080", "http://localhost.example.com", "http://127.0.0.1.nip.io",
	}
	for _, u := range remote {
		if err := checkTarget(u, false); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("checkTarget(%q) = %v, want a loopback error", u, err)
		}
		if err := checkTarget(u, true); err != nil {
			t.Errorf("checkTarget(%q, allowRemote) = %v, want nil", u, err)
		}
	}
	for _, u := range []string{"ftp://127.0.0.1", "127.0.0.1:8080", "http://", "http://127.0.0.1/?x=1", "://x"} {
		if err := checkTarget(u, true); err == nil {
			t.Errorf("checkTarget(%q) = nil, want an error", u)
		}
	}
}

func TestParseRunFlagsDefaults(t *testing.T) {
	c, err := parseRunFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Duration != 10*time.Second || c.Concurrency != 16 || c.Rounds != 3 || c.MaxRequests != 2_000_000 {
		t.Errorf("defaults: %+v", c)
	}
	if len(c.Scenarios) != len(scenarioNames()) {
		t.Errorf("default scenarios %v, want all", c.Scenarios)
	}
}

func TestParseRunFlags(t *testing.T) {
	c, err := parseRunFlags([]string{"-url", "http://localhost:1", "-compare", "http://127.0.0.1:2", "-scenarios", "get, list-all,",
		"-seeded-users", "3", "-compare-mode", "raw"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Scenarios, ",") != "get,list-all" {
		t.Errorf("scenarios %q", c.Scenarios)
	}
	if strings.Join(c.LoginAs, ",") != "seed-1@example.com,seed-2@example.com,seed-3@example.com" {
		t.Errorf("seeded users become %q", c.LoginAs)
	}
	c, err = parseRunFlags([]string{"-scenarios", "all", "-login-as", "a@example.com,b@example.com"}, io.Discard)
	if err != nil || len(c.Scenarios) != len(scenarioNames()) || len(c.LoginAs) != 2 {
		t.Errorf("all / login-as: %+v, %v", c, err)
	}
}

func TestParseRunFlagsRejects(t *testing.T) {
	cases := map[string][]string{
		"no duration":         {"-d", "0"},
		"negative duration":   {"-d", "-1s"},
		"endless duration":    {"-d", "2h"},
		"remote url":          {"-url", "http://192.168.1.10:8080"},
		"remote compare":      {"-compare", "http://example.com"},
		"unknown scenario":    {"-scenarios", "list-all,fly"},
		"no scenarios":        {"-scenarios", ","},
		"zero concurrency":    {"-c", "0"},
		"zero rounds":         {"-rounds", "0"},
		"zero max requests":   {"-max-requests", "0"},
		"short password":      {"-password", "short"},
		"both user sources":   {"-login-as", "a@example.com", "-seeded-users", "2"},
		"bad mode":            {"-compare-mode", "grpc"},
		"list limit":          {"-list-limit", "101"},
		"stray argument":      {"extra"},
		"negative warmup":     {"-warmup", "-1s"},
		"zero tasks":          {"-tasks-per-user", "0"},
		"negative server pid": {"-server-pid", "-3"},
		"sync page of 0":      {"-sync-limit", "0"},
		"sync page over 1000": {"-sync-limit", "1001"},
		"no sync changes":     {"-sync-changes", "0"},
	}
	for name, args := range cases {
		if _, err := parseRunFlags(args, io.Discard); err == nil {
			t.Errorf("%s: %q accepted", name, args)
		}
	}
	if _, err := parseRunFlags([]string{"-url", "http://10.0.0.1:8080", "-allow-remote"}, io.Discard); err != nil {
		t.Errorf("-allow-remote: %v", err)
	}
}

func TestParseSeedFlags(t *testing.T) {
	c, err := parseSeedFlags([]string{"-db", "sqlite:///tmp/x.db", "-users", "5", "-tasks", "7"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Users != 5 || c.TasksPerUser != 7 || c.Completed != 0.3 || c.BcryptCost != 12 || c.Password != defaultPassword {
		t.Errorf("seed flags: %+v", c)
	}
	bad := [][]string{
		{},
		{"-db", "x.db", "-users", "0"},
		{"-db", "x.db", "-completed", "1.5"},
		{"-db", "x.db", "-bcrypt-cost", "3"},
		{"-db", "x.db", "-password", "1234567"},
		{"-db", "x.db", "-users", "100000", "-tasks", "100000"},
		{"-db", "x.db", "-batch", "0"},
		{"-db", "x.db", "-span", "0s"},
	}
	for _, args := range bad {
		if _, err := parseSeedFlags(args, io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

func TestSQLiteURL(t *testing.T) {
	for in, want := range map[string]string{
		"sqlite:///tmp/a.db": "sqlite:///tmp/a.db",
		"file:/tmp/a.db":     "file:/tmp/a.db",
		"/tmp/a.db":          "file:/tmp/a.db",
		"a.db":               "file:a.db",
	} {
		if got := sqliteURL(in); got != want {
			t.Errorf("sqliteURL(%q) = %q, want %q", in, got, want)
		}
	}
}
