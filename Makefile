# The two commands a new machine needs: `make run` and `make test`.
GO ?= go

.PHONY: run test build vet check-generate generate migrate-diff migrate-apply migrate-status

## run: serve the API on 127.0.0.1:8080 (embedded SQLite under ./data unless DATABASE_URL is set)
run:
	$(GO) run ./cmd/todo serve

## test: vet, the generated-code check, then every test with the race detector
test: vet check-generate
	$(GO) test -race -count=1 ./...

build:
	$(GO) build -o bin/todo ./cmd/todo

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
