# The two commands a new machine needs: `make run` and `make test`.
GO ?= go
# The development tools (golangci-lint, oapi-codegen) are a module of their own, tools/go.mod, so the
# service's go.mod lists only what the service uses.
TOOL = $(GO) tool -modfile=tools/go.mod
# The npm linters of the OpenAPI document, pinned in api/package.json: `npm ci --prefix api`.
API_NODE_BIN = api/node_modules/.bin

.PHONY: run test test-cluster build vet lint lint-migrations lint-api check-api-tools check-tidy cover check-generate generate migrate-diff migrate-apply migrate-status e2e-deps screenshots

## run: serve the API on 127.0.0.1:8080 (embedded SQLite under ./data unless DATABASE_URL is set)
run:
	$(GO) run ./cmd/todo serve

# One coverage profile for all packages (-coverpkg=./...), so code run by another package's tests
# counts (platform/httpx under the modules' HTTP tests, everything under cmd/todo's end-to-end tests).
# The per-package percentages go test prints are shares of the whole module; the total printed last
# leaves out the generated Ent client (todo/ent/..., except the hand-written todo/ent/schema).
COVERPROFILE ?= coverage.out

## test: vet, lint, the tidy and generated-code checks, then every test with the race detector (the
## OpenAPI linters and oapi-codegen on the served document among them, and the web client's browser
## tests, which need node, npm and /usr/bin/chromium), and the coverage total
test: check-api-tools vet lint lint-migrations check-tidy check-generate e2e-deps
	$(GO) test -race -count=1 -covermode=atomic -coverpkg=./... -coverprofile=$(COVERPROFILE) ./...
	@awk 'NR == 1 || !/^todo\/ent\// || /^todo\/ent\/schema\//' $(COVERPROFILE) > $(COVERPROFILE).tmp && mv $(COVERPROFILE).tmp $(COVERPROFILE)
	@$(GO) tool cover -func=$(COVERPROFILE) | tail -n 1 | sed 's/^total:[[:space:]]*(statements)[[:space:]]*/coverage: total of statements (generated Ent code excluded): /'

## test-cluster: the multi-instance test alone (three todo serve processes behind nginx, on a private
## PostgreSQL server and Redis; part of make test too), with its revocation figures
test-cluster:
	$(GO) test -count=1 -run '^TestCluster$$' -v ./cmd/todo

## lint: golangci-lint over the whole tree (.golangci.yml)
lint:
	$(TOOL) golangci-lint run ./...

## lint-migrations: `todo migrate lint` over the migration files that differ from the base branch
## (the merge base with origin/main, else main), or the newest file of each directory when there is
## no base, so that a destructive migration cannot land unnoticed (needs MIGRATE_DEV_URL's server)
lint-migrations:
	@base=$$(git merge-base HEAD origin/main 2>/dev/null || git merge-base HEAD main 2>/dev/null); \
	for d in migrations/postgres migrations/sqlite; do \
	  if [ -z "$$base" ]; then \
	    echo "lint-migrations: no base branch; linting the newest file of $$d"; \
	    $(GO) run ./cmd/todo migrate lint --dir $$d --latest 1 || exit 1; continue; \
	  fi; \
	  files=$$( { git diff --name-only --diff-filter=d $$base -- "$$d/*.sql"; \
	              git ls-files --others --exclude-standard -- "$$d/*.sql"; } | sort -u); \
	  if [ -z "$$files" ]; then echo "lint-migrations: $$d: no file differs from $$(git rev-parse --short $$base)"; continue; fi; \
	  $(GO) run ./cmd/todo migrate lint --dir $$d $$files || exit 1; \
	done

## lint-api: Redocly and Spectral on the document `todo serve` answers at /openapi.yaml, and a Go
## client generated from it by oapi-codegen (cmd/todo TestServedDocument, also part of `make test`)
lint-api: check-api-tools
	$(GO) test -count=1 -run '^TestServedDocument$$' ./cmd/todo

check-api-tools:
	@test -x $(API_NODE_BIN)/redocly -a -x $(API_NODE_BIN)/spectral || { \
	  echo "check-api-tools: the OpenAPI linters are not installed: run npm ci --prefix api (bash .ci/run does)"; exit 1; }

## check-tidy: fail when `go mod tidy` would change go.mod or go.sum, of the service or of tools/
check-tidy:
	@$(GO) mod tidy -diff || { echo "check-tidy: go.mod is not tidy: run go mod tidy"; exit 1; }
	@cd tools && $(GO) mod tidy -diff || { echo "check-tidy: tools/go.mod is not tidy: run cd tools && go mod tidy"; exit 1; }

## cover: after `make test`, the least-covered functions and bin/coverage.html (see CONTRIBUTING.md)
cover:
	@test -s $(COVERPROFILE) || { echo "cover: run make test first"; exit 2; }
	@$(GO) tool cover -func=$(COVERPROFILE) | sort -k3 -n | head -n 40
	@mkdir -p bin && $(GO) tool cover -html=$(COVERPROFILE) -o bin/coverage.html && echo "cover: wrote bin/coverage.html"

build:
	$(GO) build -o bin/todo ./cmd/todo

# The web client's browser tests (web/e2e) use playwright-core and axe-core from npm, pinned in
# package-lock.json; npm ci runs again only when that file changes. No browser is downloaded: the
# tests drive Debian's /usr/bin/chromium.
E2E_DIR := web/e2e

## e2e-deps: install the browser tests' npm packages (npm ci in web/e2e) when the lock file changed
e2e-deps: $(E2E_DIR)/node_modules/.package-lock.json

$(E2E_DIR)/node_modules/.package-lock.json: $(E2E_DIR)/package.json $(E2E_DIR)/package-lock.json
	cd $(E2E_DIR) && npm ci --no-audit --no-fund
	@touch $@

## screenshots: serve a throwaway account on a temporary SQLite file and write docs/screenshots/*.png
screenshots: build e2e-deps
	node $(E2E_DIR)/screenshots.mjs bin/todo docs/screenshots

vet:
	$(GO) vet ./...

## check-generate: fail when `go generate ./ent/...` changes the generated code
check-generate:
	@sum() { find ent -type f -name '*.go' -not -path 'ent/schema/*' | LC_ALL=C sort | xargs sha256sum | sha256sum; }; \
	before=$$(sum); $(GO) generate ./ent/...; after=$$(sum); \
	if [ "$$before" != "$$after" ]; then \
	  echo "check-generate: the generated Ent code was stale and has been regenerated; review and commit ent/"; exit 1; \
	fi

generate:
	$(GO) generate ./ent/...

## migrate-diff NAME=add_x: write migrations for both dialects from the Ent schema
migrate-diff:
	@test -n "$(NAME)" || { echo "usage: make migrate-diff NAME=add_something"; exit 2; }
	$(GO) run ./cmd/todo migrate diff $(NAME)

migrate-apply:
	$(GO) run ./cmd/todo migrate apply

migrate-status:
	$(GO) run ./cmd/todo migrate status
